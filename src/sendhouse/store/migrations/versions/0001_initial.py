"""Initial schema: every table of store/schema as explicit operations (generated once, then frozen).

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

from sendhouse.store import types

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "idempotency_keys",
        sa.Column("id", sa.String(length=24), nullable=False),
        sa.Column("api_key_id", sa.String(length=24), nullable=False),
        sa.Column("project_id", sa.String(length=24), nullable=False),
        sa.Column("route", sa.String(length=100), nullable=False),
        sa.Column("idem_key", sa.String(length=256), nullable=False),
        sa.Column("body_hash", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column(
            "response",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("created_at", types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_idempotency_keys")),
        sa.UniqueConstraint("api_key_id", "route", "idem_key", name="uq_idempotency_keys_scope"),
    )
    op.create_table(
        "kv_state",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("number", sa.Float(), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("updated_at", types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_kv_state")),
    )
    op.create_table(
        "message_events",
        sa.Column("id", sa.String(length=24), nullable=False),
        sa.Column("project_id", sa.String(length=24), nullable=False),
        sa.Column("message_id", sa.String(length=24), nullable=False),
        sa.Column("campaign_id", sa.String(length=24), nullable=True),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("is_automated", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column(
            "detail",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("created_at", types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message_events")),
    )
    op.create_index(
        "ix_message_events_campaign_type", "message_events", ["campaign_id", "type"], unique=False
    )
    op.create_index("ix_message_events_message_type", "message_events", ["message_id", "type"], unique=False)
    op.create_index(
        "ix_message_events_project_email_type",
        "message_events",
        ["project_id", "email", "type"],
        unique=False,
    )
    op.create_table(
        "organizations",
        sa.Column("id", sa.String(length=24), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organizations")),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.String(length=24), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("created_at", types.UTCDateTime(), nullable=False),
        sa.Column("last_login_at", types.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
    )
    op.create_table(
        "projects",
        sa.Column("id", sa.String(length=24), nullable=False),
        sa.Column("organization_id", sa.String(length=24), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("domain", sa.String(length=253), nullable=True),
        sa.Column("region_key", sa.String(length=32), server_default="us-east-1", nullable=False),
        sa.Column("tracking_open", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("tracking_click", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("created_at", types.UTCDateTime(), nullable=False),
        sa.Column("updated_at", types.UTCDateTime(), nullable=False),
        sa.Column("deleted_at", types.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organizations.id"], name=op.f("fk_projects_organization_id_organizations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_projects")),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(length=24), nullable=False),
        sa.Column("organization_id", sa.String(length=24), nullable=False),
        sa.Column("project_id", sa.String(length=24), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=200), server_default="", nullable=False),
        sa.Column("created_at", types.UTCDateTime(), nullable=False),
        sa.Column("revoked_at", types.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organizations.id"], name=op.f("fk_api_keys_organization_id_organizations")
        ),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_api_keys_project_id_projects")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_keys_key_hash")),
    )
    op.create_table(
        "campaigns",
        sa.Column("id", sa.String(length=24), nullable=False),
        sa.Column("project_id", sa.String(length=24), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("subject", sa.String(length=998), nullable=False),
        sa.Column("preview_text", sa.String(length=200), nullable=True),
        sa.Column("from_sender_id", sa.String(length=24), nullable=True),
        sa.Column("from_email", sa.String(length=320), nullable=True),
        sa.Column("from_name", sa.String(length=200), nullable=True),
        sa.Column("reply_to", sa.String(length=320), nullable=True),
        sa.Column("template_id", sa.String(length=24), nullable=True),
        sa.Column("html_template", sa.Text(), nullable=True),
        sa.Column(
            "to_lists",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "exclude_lists",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("unsubscribe_group_id", sa.String(length=24), nullable=True),
        sa.Column("send_now", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("send_to_global_list", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("scheduled_at", types.UTCDateTime(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("send_mode", sa.String(length=20), nullable=False),
        sa.Column("gradual_strategy", sa.String(length=10), nullable=True),
        sa.Column("daily_batch_size", sa.Integer(), nullable=True),
        sa.Column("timezone", sa.String(length=64), nullable=True),
        sa.Column("tracking_open", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("tracking_click", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("threshold_preset", sa.String(length=20), server_default="balanced", nullable=False),
        sa.Column("source", sa.String(length=20), server_default="api", nullable=False),
        sa.Column("builder_type", sa.String(length=20), nullable=True),
        sa.Column("default_campaign", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=True),
        sa.Column("started_at", types.UTCDateTime(), nullable=True),
        sa.Column("sent_at", types.UTCDateTime(), nullable=True),
        sa.Column("aborted_at", types.UTCDateTime(), nullable=True),
        sa.Column("paused_at", types.UTCDateTime(), nullable=True),
        sa.Column("paused_reason", sa.Text(), nullable=True),
        sa.Column("resumed_at", types.UTCDateTime(), nullable=True),
        sa.Column("failure_reason", sa.Text(), nullable=True),
        sa.Column("total_contacts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("suppressed_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_at", types.UTCDateTime(), nullable=False),
        sa.Column("updated_at", types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_campaigns_project_id_projects")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaigns")),
    )
    op.create_index(op.f("ix_campaigns_project_id"), "campaigns", ["project_id"], unique=False)
    op.create_index("ix_campaigns_status_scheduled_at", "campaigns", ["status", "scheduled_at"], unique=False)
    op.create_table(
        "contact_lists",
        sa.Column("id", sa.String(length=24), nullable=False),
        sa.Column("project_id", sa.String(length=24), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=True),
        sa.Column("type", sa.String(length=10), nullable=False),
        sa.Column(
            "filter_criteria",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("parent_id", sa.String(length=24), nullable=True),
        sa.Column("created_at", types.UTCDateTime(), nullable=False),
        sa.Column("updated_at", types.UTCDateTime(), nullable=False),
        sa.Column("deleted_at", types.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_contact_lists_project_id_projects")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_lists")),
    )
    op.create_index(op.f("ix_contact_lists_project_id"), "contact_lists", ["project_id"], unique=False)
    op.create_table(
        "contact_properties",
        sa.Column("id", sa.String(length=24), nullable=False),
        sa.Column("project_id", sa.String(length=24), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("type", sa.String(length=10), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=True),
        sa.Column(
            "default_value",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("created_at", types.UTCDateTime(), nullable=False),
        sa.Column("updated_at", types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_contact_properties_project_id_projects")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_properties")),
        sa.UniqueConstraint("project_id", "name", name="uq_contact_properties_project_name"),
    )
    op.create_table(
        "contacts",
        sa.Column("id", sa.String(length=24), nullable=False),
        sa.Column("project_id", sa.String(length=24), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("first_name", sa.String(length=200), nullable=True),
        sa.Column("last_name", sa.String(length=200), nullable=True),
        sa.Column("user_id", sa.String(length=200), nullable=True),
        sa.Column("mobile", sa.String(length=32), nullable=True),
        sa.Column(
            "custom_fields",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("source", sa.String(length=20), server_default="api", nullable=False),
        sa.Column("last_opened_at", types.UTCDateTime(), nullable=True),
        sa.Column("created_at", types.UTCDateTime(), nullable=False),
        sa.Column("updated_at", types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_contacts_project_id_projects")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contacts")),
        sa.UniqueConstraint("project_id", "email", name="uq_contacts_project_email"),
    )
    op.create_index("ix_contacts_project_user_id", "contacts", ["project_id", "user_id"], unique=False)
    op.create_table(
        "domains",
        sa.Column("id", sa.String(length=24), nullable=False),
        sa.Column("project_id", sa.String(length=24), nullable=False),
        sa.Column("domain_name", sa.String(length=253), nullable=False),
        sa.Column("region_key", sa.String(length=32), nullable=False),
        sa.Column("verification_status", sa.String(length=32), nullable=False),
        sa.Column("ownership_verified", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("dkim_enabled", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("mail_from_enabled", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("dmarc_enabled", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("ownership_token", sa.String(length=64), nullable=False),
        sa.Column("dkim_selector", sa.String(length=63), nullable=False),
        sa.Column("dkim_private_key", sa.Text(), nullable=False),
        sa.Column("dkim_public_key", sa.Text(), nullable=False),
        sa.Column("last_checked_at", types.UTCDateTime(), nullable=True),
        sa.Column("verified_at", types.UTCDateTime(), nullable=True),
        sa.Column("created_at", types.UTCDateTime(), nullable=False),
        sa.Column("updated_at", types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], name=op.f("fk_domains_project_id_projects")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_domains")),
        sa.UniqueConstraint("project_id", "domain_name", name="uq_domains_project_domain"),
    )
    op.create_table(
        "project_members",
        sa.Column("user_id", sa.String(length=24), nullable=False),
        sa.Column("project_id", sa.String(length=24), nullable=False),
        sa.Column("role", sa.String(length=16), server_default="owner", nullable=False),
        sa.Column("created_at", types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_project_members_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_project_members_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", "project_id", name=op.f("pk_project_members")),
    )
    op.create_table(
        "senders",
        sa.Column("id", sa.String(length=24), nullable=False),
        sa.Column("project_id", sa.String(length=24), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("reply_to", sa.String(length=320), nullable=True),
        sa.Column("created_at", types.UTCDateTime(), nullable=False),
        sa.Column("updated_at", types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], name=op.f("fk_senders_project_id_projects")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_senders")),
        sa.UniqueConstraint("project_id", "email", name="uq_senders_project_email"),
    )
    op.create_table(
        "suppression_groups",
        sa.Column("id", sa.String(length=24), nullable=False),
        sa.Column("project_id", sa.String(length=24), nullable=False),
        sa.Column("group_code", sa.String(length=12), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=True),
        sa.Column("is_global", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("is_active", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("created_at", types.UTCDateTime(), nullable=False),
        sa.Column("updated_at", types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_suppression_groups_project_id_projects")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_suppression_groups")),
        sa.UniqueConstraint("project_id", "group_code", name="uq_suppression_groups_project_code"),
    )
    op.create_table(
        "templates",
        sa.Column("id", sa.String(length=24), nullable=False),
        sa.Column("project_id", sa.String(length=24), nullable=False),
        sa.Column("name", sa.String(length=90), nullable=False),
        sa.Column("description", sa.String(length=140), nullable=True),
        sa.Column("subject", sa.String(length=988), nullable=False),
        sa.Column("preview_text", sa.String(length=140), nullable=True),
        sa.Column("html", sa.Text(), nullable=True),
        sa.Column("plain_text", sa.Text(), nullable=True),
        sa.Column("template_type", sa.String(length=20), server_default="transactional", nullable=False),
        sa.Column("builder_type", sa.String(length=10), server_default="code", nullable=False),
        sa.Column(
            "dynamic_variables",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("sender_id", sa.String(length=24), nullable=True),
        sa.Column("created_at", types.UTCDateTime(), nullable=False),
        sa.Column("updated_at", types.UTCDateTime(), nullable=False),
        sa.Column("deleted_at", types.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_templates_project_id_projects")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_templates")),
    )
    op.create_index(op.f("ix_templates_project_id"), "templates", ["project_id"], unique=False)
    op.create_table(
        "webhooks",
        sa.Column("id", sa.String(length=24), nullable=False),
        sa.Column("organization_id", sa.String(length=24), nullable=False),
        sa.Column("project_id", sa.String(length=24), nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column("secret", sa.String(length=100), nullable=False),
        sa.Column(
            "events",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("is_active", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="active", nullable=False),
        sa.Column("failure_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_failed_at", types.UTCDateTime(), nullable=True),
        sa.Column("last_success_at", types.UTCDateTime(), nullable=True),
        sa.Column("last_delivered_at", types.UTCDateTime(), nullable=True),
        sa.Column(
            "metadata",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("created_at", types.UTCDateTime(), nullable=False),
        sa.Column("updated_at", types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_webhooks_project_id_projects")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhooks")),
    )
    op.create_index(op.f("ix_webhooks_project_id"), "webhooks", ["project_id"], unique=False)
    op.create_table(
        "list_members",
        sa.Column("list_id", sa.String(length=24), nullable=False),
        sa.Column("contact_id", sa.String(length=24), nullable=False),
        sa.Column("created_at", types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_list_members_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["list_id"],
            ["contact_lists.id"],
            name=op.f("fk_list_members_list_id_contact_lists"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("list_id", "contact_id", name=op.f("pk_list_members")),
    )
    op.create_index("ix_list_members_contact", "list_members", ["contact_id"], unique=False)
    op.create_table(
        "messages",
        sa.Column("id", sa.String(length=24), nullable=False),
        sa.Column("project_id", sa.String(length=24), nullable=False),
        sa.Column("campaign_id", sa.String(length=24), nullable=True),
        sa.Column("batch_id", sa.String(length=36), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("priority", sa.SmallInteger(), server_default="100", nullable=False),
        sa.Column("contact_id", sa.String(length=24), nullable=True),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_attempt_at", types.UTCDateTime(), nullable=False),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column("lease_expires_at", types.UTCDateTime(), nullable=True),
        sa.Column("message_id_header", sa.String(length=255), nullable=False),
        sa.Column(
            "payload",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("smtp_response", sa.Text(), nullable=True),
        sa.Column("created_at", types.UTCDateTime(), nullable=False),
        sa.Column("updated_at", types.UTCDateTime(), nullable=False),
        sa.Column("sent_at", types.UTCDateTime(), nullable=True),
        sa.Column("failed_at", types.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_messages_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_messages")),
    )
    op.create_index("ix_messages_campaign_status", "messages", ["campaign_id", "status"], unique=False)
    op.create_index("ix_messages_claim", "messages", ["status", "priority", "next_attempt_at"], unique=False)
    op.create_index("ix_messages_status_lease", "messages", ["status", "lease_expires_at"], unique=False)
    op.create_index("uq_messages_campaign_email", "messages", ["campaign_id", "email"], unique=True)
    op.create_table(
        "suppressions",
        sa.Column("id", sa.String(length=24), nullable=False),
        sa.Column("project_id", sa.String(length=24), nullable=False),
        sa.Column("group_id", sa.String(length=24), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("source_message_id", sa.String(length=24), nullable=True),
        sa.Column("created_at", types.UTCDateTime(), nullable=False),
        sa.Column("updated_at", types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["suppression_groups.id"],
            name=op.f("fk_suppressions_group_id_suppression_groups"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_suppressions_project_id_projects")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_suppressions")),
        sa.UniqueConstraint("group_id", "email", name="uq_suppressions_group_email"),
    )
    op.create_index("ix_suppressions_project_email", "suppressions", ["project_id", "email"], unique=False)
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.String(length=24), nullable=False),
        sa.Column("webhook_id", sa.String(length=24), nullable=False),
        sa.Column("project_id", sa.String(length=24), nullable=False),
        sa.Column("event", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_attempt_at", types.UTCDateTime(), nullable=False),
        sa.Column("lease_owner", sa.String(length=24), nullable=True),
        sa.Column("lease_expires_at", types.UTCDateTime(), nullable=True),
        sa.Column("url", sa.String(length=2048), nullable=True),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=True),
        sa.Column("delivered_at", types.UTCDateTime(), nullable=True),
        sa.Column("finished_at", types.UTCDateTime(), nullable=True),
        sa.Column("created_at", types.UTCDateTime(), nullable=False),
        sa.Column("updated_at", types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["webhook_id"],
            ["webhooks.id"],
            name=op.f("fk_webhook_deliveries_webhook_id_webhooks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_deliveries")),
    )
    op.create_index(
        "ix_webhook_deliveries_status_next_attempt_at",
        "webhook_deliveries",
        ["status", "next_attempt_at"],
        unique=False,
    )
    op.create_index(
        "ix_webhook_deliveries_webhook_id_id", "webhook_deliveries", ["webhook_id", "id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_webhook_deliveries_webhook_id_id", table_name="webhook_deliveries")
    op.drop_index("ix_webhook_deliveries_status_next_attempt_at", table_name="webhook_deliveries")
    op.drop_table("webhook_deliveries")
    op.drop_index("ix_suppressions_project_email", table_name="suppressions")
    op.drop_table("suppressions")
    op.drop_index("uq_messages_campaign_email", table_name="messages")
    op.drop_index("ix_messages_status_lease", table_name="messages")
    op.drop_index("ix_messages_claim", table_name="messages")
    op.drop_index("ix_messages_campaign_status", table_name="messages")
    op.drop_table("messages")
    op.drop_index("ix_list_members_contact", table_name="list_members")
    op.drop_table("list_members")
    op.drop_index(op.f("ix_webhooks_project_id"), table_name="webhooks")
    op.drop_table("webhooks")
    op.drop_index(op.f("ix_templates_project_id"), table_name="templates")
    op.drop_table("templates")
    op.drop_table("suppression_groups")
    op.drop_table("senders")
    op.drop_table("project_members")
    op.drop_table("domains")
    op.drop_index("ix_contacts_project_user_id", table_name="contacts")
    op.drop_table("contacts")
    op.drop_table("contact_properties")
    op.drop_index(op.f("ix_contact_lists_project_id"), table_name="contact_lists")
    op.drop_table("contact_lists")
    op.drop_index("ix_campaigns_status_scheduled_at", table_name="campaigns")
    op.drop_index(op.f("ix_campaigns_project_id"), table_name="campaigns")
    op.drop_table("campaigns")
    op.drop_table("api_keys")
    op.drop_table("projects")
    op.drop_table("users")
    op.drop_table("organizations")
    op.drop_index("ix_message_events_project_email_type", table_name="message_events")
    op.drop_index("ix_message_events_message_type", table_name="message_events")
    op.drop_index("ix_message_events_campaign_type", table_name="message_events")
    op.drop_table("message_events")
    op.drop_table("kv_state")
    op.drop_table("idempotency_keys")
