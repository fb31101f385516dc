"""Contacts, contact properties, lists and segments, suppression groups and suppressions."""

import sqlalchemy as sa

from sendhouse.store.schema import member_counts
from sendhouse.store.schema.base import id_column, metadata
from sendhouse.store.types import JSONType, UTCDateTime

contacts = sa.Table(
    "contacts",
    metadata,
    id_column(),
    sa.Column("project_id", sa.String(24), sa.ForeignKey("projects.id"), nullable=False),
    sa.Column("email", sa.String(320), nullable=False),  # stored lower-case
    sa.Column("first_name", sa.String(200)),
    sa.Column("last_name", sa.String(200)),
    sa.Column("user_id", sa.String(200)),
    sa.Column("mobile", sa.String(32)),
    sa.Column("custom_fields", JSONType, nullable=False),
    sa.Column("source", sa.String(20), nullable=False, server_default="api"),
    sa.Column("last_opened_at", UTCDateTime),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("project_id", "email", name="uq_contacts_project_email"),
    sa.Index("ix_contacts_project_user_id", "project_id", "user_id"),
)

contact_properties = sa.Table(
    "contact_properties",
    metadata,
    id_column(),
    sa.Column("project_id", sa.String(24), sa.ForeignKey("projects.id"), nullable=False),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("type", sa.String(10), nullable=False),  # string | number | boolean | date
    sa.Column("description", sa.String(500)),
    sa.Column("default_value", JSONType),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("project_id", "name", name="uq_contact_properties_project_name"),
)

contact_lists = sa.Table(
    "contact_lists",
    metadata,
    id_column(),
    sa.Column("project_id", sa.String(24), sa.ForeignKey("projects.id"), nullable=False, index=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("description", sa.String(500)),
    sa.Column("type", sa.String(10), nullable=False),  # list | segment
    sa.Column("filter_criteria", JSONType),
    sa.Column("parent_id", sa.String(24)),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("deleted_at", UTCDateTime),
    # rows in list_members, kept by the database's triggers (schema/member_counts.py); 0 for a segment
    sa.Column("member_count", sa.Integer, nullable=False, server_default="0"),
)

list_members = sa.Table(
    "list_members",
    metadata,
    sa.Column(
        "list_id", sa.String(24), sa.ForeignKey("contact_lists.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column(
        "contact_id", sa.String(24), sa.ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Index("ix_list_members_contact", "contact_id"),
)
member_counts.install(list_members)

suppression_groups = sa.Table(
    "suppression_groups",
    metadata,
    id_column(),
    sa.Column("project_id", sa.String(24), sa.ForeignKey("projects.id"), nullable=False),
    sa.Column("group_code", sa.String(12), nullable=False),  # AutoSend's short `groupId`
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("description", sa.String(500)),
    sa.Column("is_global", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("is_active", sa.Boolean, nullable=False, server_default=sa.true()),
    # the project's default (non-global) group: where a suppression without groupId goes
    sa.Column("is_default", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("project_id", "group_code", name="uq_suppression_groups_project_code"),
)

# One row per suppressed address per group; the project's global group means "never mail".
suppressions = sa.Table(
    "suppressions",
    metadata,
    id_column(),
    sa.Column("project_id", sa.String(24), sa.ForeignKey("projects.id"), nullable=False),
    sa.Column(
        "group_id", sa.String(24), sa.ForeignKey("suppression_groups.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("email", sa.String(320), nullable=False),
    sa.Column("reason", sa.String(16), nullable=False),  # UNSUBSCRIBE | BOUNCE | COMPLAINT | MANUAL
    sa.Column("source_message_id", sa.String(24)),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("group_id", "email", name="uq_suppressions_group_email"),
    sa.Index("ix_suppressions_project_email", "project_id", "email"),
)
