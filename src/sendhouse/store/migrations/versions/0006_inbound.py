"""Inbound mail (receiving domains, messages, attachments, replies) and SMTP submission keys.

Revision ID: 0006_inbound
Revises: 0005_events
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

from sendhouse.store import types

revision = "0006_inbound"
down_revision = "0005_events"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "inbound_messages",
        sa.Column("id", sa.String(length=24), nullable=False),
        sa.Column("project_id", sa.String(length=24), nullable=False),
        sa.Column("domain_name", sa.String(length=253), nullable=False),
        sa.Column("message_id_header", sa.String(length=998), nullable=True),
        sa.Column("from_email", sa.String(length=320), nullable=True),
        sa.Column("from_name", sa.String(length=998), nullable=True),
        sa.Column(
            "addresses",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("subject", sa.Text(), nullable=True),
        sa.Column("text_body", sa.Text(), nullable=True),
        sa.Column("html_body", sa.Text(), nullable=True),
        sa.Column(
            "headers",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "verdicts",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("thread_id", sa.String(length=24), nullable=False),
        sa.Column("in_reply_to", sa.String(length=998), nullable=True),
        sa.Column("in_reply_to_email_id", sa.String(length=24), nullable=True),
        sa.Column("in_reply_to_inbound_id", sa.String(length=24), nullable=True),
        sa.Column(
            "envelope",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.Column("received_at", types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbound_messages")),
    )
    with op.batch_alter_table("inbound_messages", schema=None) as batch_op:
        batch_op.create_index(
            "ix_inbound_messages_project_message_id", ["project_id", "message_id_header"], unique=False
        )
        batch_op.create_index(
            "ix_inbound_messages_project_received", ["project_id", "received_at"], unique=False
        )

    op.create_table(
        "inbound_replies",
        sa.Column("email_id", sa.String(length=24), nullable=False),
        sa.Column("project_id", sa.String(length=24), nullable=False),
        sa.Column("inbound_message_id", sa.String(length=24), nullable=False),
        sa.Column("thread_id", sa.String(length=24), nullable=False),
        sa.Column("message_id_header", sa.String(length=998), nullable=False),
        sa.Column("created_at", types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("email_id", name=op.f("pk_inbound_replies")),
    )
    with op.batch_alter_table("inbound_replies", schema=None) as batch_op:
        batch_op.create_index(
            "ix_inbound_replies_project_message_id", ["project_id", "message_id_header"], unique=False
        )

    op.create_table(
        "inbound_attachments",
        sa.Column("id", sa.String(length=28), nullable=False),
        sa.Column("inbound_message_id", sa.String(length=24), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(length=998), nullable=True),
        sa.Column("content_type", sa.String(length=255), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["inbound_message_id"],
            ["inbound_messages.id"],
            name=op.f("fk_inbound_attachments_inbound_message_id_inbound_messages"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbound_attachments")),
        sa.UniqueConstraint("inbound_message_id", "position", name="uq_inbound_attachments_message_position"),
    )
    op.create_table(
        "smtp_keys",
        sa.Column("id", sa.String(length=24), nullable=False),
        sa.Column("project_id", sa.String(length=24), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=200), server_default="", nullable=False),
        sa.Column("created_at", types.UTCDateTime(), nullable=False),
        sa.Column("last_used_at", types.UTCDateTime(), nullable=True),
        sa.Column("revoked_at", types.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_smtp_keys_project_id_projects")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_smtp_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_smtp_keys_key_hash")),
    )
    with op.batch_alter_table("smtp_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_smtp_keys_project_id"), ["project_id"], unique=False)

    op.create_table(
        "inbound_domains",
        sa.Column("domain_id", sa.String(length=24), nullable=False),
        sa.Column("project_id", sa.String(length=24), nullable=False),
        sa.Column("domain_name", sa.String(length=253), nullable=False),
        sa.Column("enabled_at", types.UTCDateTime(), nullable=False),
        sa.Column("verified_at", types.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["domain_id"],
            ["domains.id"],
            name=op.f("fk_inbound_domains_domain_id_domains"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("domain_id", name=op.f("pk_inbound_domains")),
        sa.UniqueConstraint("domain_name", name=op.f("uq_inbound_domains_domain_name")),
    )


def downgrade() -> None:
    op.drop_table("inbound_domains")
    with op.batch_alter_table("smtp_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_smtp_keys_project_id"))

    op.drop_table("smtp_keys")
    op.drop_table("inbound_attachments")
    with op.batch_alter_table("inbound_replies", schema=None) as batch_op:
        batch_op.drop_index("ix_inbound_replies_project_message_id")

    op.drop_table("inbound_replies")
    with op.batch_alter_table("inbound_messages", schema=None) as batch_op:
        batch_op.drop_index("ix_inbound_messages_project_received")
        batch_op.drop_index("ix_inbound_messages_project_message_id")

    op.drop_table("inbound_messages")
