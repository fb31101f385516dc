"""Custom events (definitions, per-contact log) and automations with their durable runs.

Revision ID: 0005_events
Revises: 0004_compat
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

from sendhouse.store import types

revision = "0005_events"
down_revision = "0004_compat"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "automations",
        sa.Column("id", sa.String(length=24), nullable=False),
        sa.Column("project_id", sa.String(length=24), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.String(length=1000), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("trigger_type", sa.String(length=40), nullable=False),
        sa.Column(
            "entry_criteria",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "exit_criteria",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "steps",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "tags", sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"), nullable=False
        ),
        sa.Column("unsubscribe_group_id", sa.String(length=24), nullable=True),
        sa.Column("tracking_open", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("tracking_click", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("active_at", types.UTCDateTime(), nullable=True),
        sa.Column("created_at", types.UTCDateTime(), nullable=False),
        sa.Column("updated_at", types.UTCDateTime(), nullable=False),
        sa.Column("deleted_at", types.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_automations_project_id_projects")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_automations")),
    )
    with op.batch_alter_table("automations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_automations_project_status_trigger", ["project_id", "status", "trigger_type"], unique=False
        )

    op.create_table(
        "event_definitions",
        sa.Column("id", sa.String(length=24), nullable=False),
        sa.Column("project_id", sa.String(length=24), nullable=False),
        sa.Column("event_name", sa.String(length=64), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column(
            "properties",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", types.UTCDateTime(), nullable=False),
        sa.Column("updated_at", types.UTCDateTime(), nullable=False),
        sa.Column("deleted_at", types.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_event_definitions_project_id_projects")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_definitions")),
    )
    with op.batch_alter_table("event_definitions", schema=None) as batch_op:
        batch_op.create_index(
            "uq_event_definitions_live_name",
            ["project_id", "event_name"],
            unique=True,
            sqlite_where=sa.text("deleted_at IS NULL"),
            postgresql_where=sa.text("deleted_at IS NULL"),
        )

    op.create_table(
        "automation_runs",
        sa.Column("id", sa.String(length=24), nullable=False),
        sa.Column("project_id", sa.String(length=24), nullable=False),
        sa.Column("automation_id", sa.String(length=24), nullable=False),
        sa.Column("contact_id", sa.String(length=24), nullable=False),
        sa.Column("entry_key", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("step_id", sa.String(length=100), nullable=True),
        sa.Column("due_at", types.UTCDateTime(), nullable=False),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column("lease_expires_at", types.UTCDateTime(), nullable=True),
        sa.Column(
            "event", sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"), nullable=True
        ),
        sa.Column("exit_reason", sa.String(length=40), nullable=True),
        sa.Column("entered_at", types.UTCDateTime(), nullable=False),
        sa.Column("updated_at", types.UTCDateTime(), nullable=False),
        sa.Column("finished_at", types.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["automation_id"],
            ["automations.id"],
            name=op.f("fk_automation_runs_automation_id_automations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_automation_runs")),
        sa.UniqueConstraint("automation_id", "contact_id", "entry_key", name="uq_automation_runs_entry"),
    )
    with op.batch_alter_table("automation_runs", schema=None) as batch_op:
        batch_op.create_index("ix_automation_runs_claim", ["status", "due_at"], unique=False)
        batch_op.create_index("ix_automation_runs_contact", ["contact_id"], unique=False)

    op.create_table(
        "automation_steps_log",
        sa.Column("id", sa.String(length=24), nullable=False),
        sa.Column("automation_id", sa.String(length=24), nullable=False),
        sa.Column("run_id", sa.String(length=24), nullable=False),
        sa.Column("step_id", sa.String(length=100), nullable=False),
        sa.Column("message_id", sa.String(length=24), nullable=True),
        sa.Column("created_at", types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["automation_id"],
            ["automations.id"],
            name=op.f("fk_automation_steps_log_automation_id_automations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_automation_steps_log")),
        sa.UniqueConstraint("run_id", "step_id", name="uq_automation_steps_log_run_step"),
    )
    with op.batch_alter_table("automation_steps_log", schema=None) as batch_op:
        batch_op.create_index(
            "ix_automation_steps_log_automation_step", ["automation_id", "step_id"], unique=False
        )

    op.create_table(
        "contact_events",
        sa.Column("id", sa.String(length=24), nullable=False),
        sa.Column("project_id", sa.String(length=24), nullable=False),
        sa.Column("contact_id", sa.String(length=24), nullable=False),
        sa.Column("event_name", sa.String(length=64), nullable=False),
        sa.Column(
            "properties",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_contact_events_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_events")),
    )
    with op.batch_alter_table("contact_events", schema=None) as batch_op:
        batch_op.create_index("ix_contact_events_contact_created", ["contact_id", "created_at"], unique=False)
        batch_op.create_index("ix_contact_events_project_created", ["project_id", "created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("contact_events", schema=None) as batch_op:
        batch_op.drop_index("ix_contact_events_project_created")
        batch_op.drop_index("ix_contact_events_contact_created")

    op.drop_table("contact_events")
    with op.batch_alter_table("automation_steps_log", schema=None) as batch_op:
        batch_op.drop_index("ix_automation_steps_log_automation_step")

    op.drop_table("automation_steps_log")
    with op.batch_alter_table("automation_runs", schema=None) as batch_op:
        batch_op.drop_index("ix_automation_runs_contact")
        batch_op.drop_index("ix_automation_runs_claim")

    op.drop_table("automation_runs")
    with op.batch_alter_table("event_definitions", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_event_definitions_live_name",
            sqlite_where=sa.text("deleted_at IS NULL"),
            postgresql_where=sa.text("deleted_at IS NULL"),
        )

    op.drop_table("event_definitions")
    with op.batch_alter_table("automations", schema=None) as batch_op:
        batch_op.drop_index("ix_automations_project_status_trigger")

    op.drop_table("automations")
