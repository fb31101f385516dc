"""Custom events (definitions and the per-contact event log) and automations with their durable
runs.

An automation run is one contact in one automation: a row with its current step and the time it
is due. Waits are due times; runners claim due rows with a lease, as workers claim ledger rows:
  active (step_id, due_at) -> active (next step) ... -> completed | exited
automation_steps_log records every step a run carried out (with the ledger row of an email step),
which is where the per-step figures come from.
"""

import sqlalchemy as sa

from sendhouse.store.schema.base import id_column, metadata
from sendhouse.store.types import JSONType, UTCDateTime

event_definitions = sa.Table(
    "event_definitions",
    metadata,
    id_column(),
    sa.Column("project_id", sa.String(24), sa.ForeignKey("projects.id"), nullable=False),
    sa.Column("event_name", sa.String(64), nullable=False),
    sa.Column("description", sa.Text),
    sa.Column(
        "properties", JSONType, nullable=False
    ),  # [{propertyName, type, description?, suggestedValues}]
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("deleted_at", UTCDateTime),
    sa.Index(
        "uq_event_definitions_live_name",
        "project_id",
        "event_name",
        unique=True,
        sqlite_where=sa.text("deleted_at IS NULL"),
        postgresql_where=sa.text("deleted_at IS NULL"),
    ),
)

# The event log: one row per event sent for a contact (POST /events/send).
contact_events = sa.Table(
    "contact_events",
    metadata,
    id_column(),
    sa.Column("project_id", sa.String(24), nullable=False),
    sa.Column("contact_id", sa.String(24), sa.ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False),
    sa.Column("event_name", sa.String(64), nullable=False),
    sa.Column("properties", JSONType, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Index("ix_contact_events_contact_created", "contact_id", "created_at"),
    sa.Index("ix_contact_events_project_created", "project_id", "created_at"),
)

automations = sa.Table(
    "automations",
    metadata,
    id_column(),
    sa.Column("project_id", sa.String(24), sa.ForeignKey("projects.id"), nullable=False),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("description", sa.String(1000)),
    sa.Column("status", sa.String(10), nullable=False),  # draft | active | paused | archived
    sa.Column("trigger_type", sa.String(40), nullable=False),  # entryCriteria.type, for the trigger lookup
    sa.Column("entry_criteria", JSONType, nullable=False),
    sa.Column("exit_criteria", JSONType, nullable=False),
    sa.Column("steps", JSONType, nullable=False),
    sa.Column("tags", JSONType, nullable=False),
    sa.Column("unsubscribe_group_id", sa.String(24)),
    sa.Column("tracking_open", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("tracking_click", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("active_at", UTCDateTime),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("deleted_at", UTCDateTime),
    sa.Index("ix_automations_project_status_trigger", "project_id", "status", "trigger_type"),
)

automation_runs = sa.Table(
    "automation_runs",
    metadata,
    id_column(),
    sa.Column("project_id", sa.String(24), nullable=False),
    sa.Column(
        "automation_id", sa.String(24), sa.ForeignKey("automations.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("contact_id", sa.String(24), nullable=False),
    sa.Column("entry_key", sa.String(40), nullable=False),  # "once", or the event log id of an event entry
    sa.Column("status", sa.String(10), nullable=False),  # active | completed | exited
    sa.Column("step_id", sa.String(100)),  # the step to carry out next (None: at the end)
    sa.Column("due_at", UTCDateTime, nullable=False),
    sa.Column("lease_owner", sa.String(64)),
    sa.Column("lease_expires_at", UTCDateTime),
    sa.Column("event", JSONType),  # {name, properties} of the entering event
    sa.Column("exit_reason", sa.String(40)),
    sa.Column("entered_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("finished_at", UTCDateTime),
    sa.UniqueConstraint("automation_id", "contact_id", "entry_key", name="uq_automation_runs_entry"),
    sa.Index("ix_automation_runs_claim", "status", "due_at"),
    sa.Index("ix_automation_runs_contact", "contact_id"),
)

automation_steps_log = sa.Table(
    "automation_steps_log",
    metadata,
    id_column(),
    sa.Column(
        "automation_id", sa.String(24), sa.ForeignKey("automations.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("run_id", sa.String(24), nullable=False),
    sa.Column("step_id", sa.String(100), nullable=False),
    sa.Column("message_id", sa.String(24)),  # the ledger row of an email step
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("run_id", "step_id", name="uq_automation_steps_log_run_step"),
    sa.Index("ix_automation_steps_log_automation_step", "automation_id", "step_id"),
)
