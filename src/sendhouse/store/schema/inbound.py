"""Inbound mail: receiving domains, received messages with their raw bytes and
attachments, the replies sent to them (for threading), and SMTP submission keys."""

import sqlalchemy as sa

from sendhouse.store.schema.base import id_column, metadata
from sendhouse.store.types import JSONType, UTCDateTime

# A sending domain whose inbound is enabled: mail to any address at it is received for its project.
inbound_domains = sa.Table(
    "inbound_domains",
    metadata,
    sa.Column("domain_id", sa.String(24), sa.ForeignKey("domains.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("project_id", sa.String(24), nullable=False),
    sa.Column("domain_name", sa.String(253), nullable=False, unique=True),
    sa.Column("enabled_at", UTCDateTime, nullable=False),
    sa.Column("verified_at", UTCDateTime),  # the MX was seen pointing at this server
)

inbound_messages = sa.Table(
    "inbound_messages",
    metadata,
    id_column(),
    sa.Column("project_id", sa.String(24), nullable=False),
    sa.Column("domain_name", sa.String(253), nullable=False),
    sa.Column("message_id_header", sa.String(998)),
    sa.Column("from_email", sa.String(320)),
    sa.Column("from_name", sa.String(998)),
    sa.Column("addresses", JSONType, nullable=False),  # {to, cc, bcc, replyTo: [{email, name}]}
    sa.Column("subject", sa.Text),
    sa.Column("text_body", sa.Text),
    sa.Column("html_body", sa.Text),
    sa.Column("headers", JSONType, nullable=False),
    sa.Column("verdicts", JSONType, nullable=False),  # {spf, dkim, dmarc, spam, virus}
    sa.Column("status", sa.String(24), nullable=False),
    sa.Column("thread_id", sa.String(24), nullable=False),
    sa.Column("in_reply_to", sa.String(998)),
    sa.Column("in_reply_to_email_id", sa.String(24)),
    sa.Column("in_reply_to_inbound_id", sa.String(24)),
    sa.Column("envelope", JSONType, nullable=False),  # {mailFrom, rcptTo, clientIp, helo}
    sa.Column("size", sa.Integer, nullable=False),
    sa.Column("raw", sa.LargeBinary, nullable=False),
    sa.Column("received_at", UTCDateTime, nullable=False),
    sa.Index("ix_inbound_messages_project_received", "project_id", "received_at"),
    sa.Index("ix_inbound_messages_project_message_id", "project_id", "message_id_header"),
    sa.Index(  # housekeeping's look for messages left PROCESSING
        "ix_inbound_messages_processing",
        "received_at",
        sqlite_where=sa.text("status = 'PROCESSING'"),
        postgresql_where=sa.text("status = 'PROCESSING'"),
    ),
)

inbound_attachments = sa.Table(
    "inbound_attachments",
    metadata,
    sa.Column("id", sa.String(28), primary_key=True),  # "att_" + 24 hex
    sa.Column(
        "inbound_message_id",
        sa.String(24),
        sa.ForeignKey("inbound_messages.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("filename", sa.String(998)),
    sa.Column("content_type", sa.String(255), nullable=False),
    sa.Column("size", sa.Integer, nullable=False),
    sa.Column("content", sa.LargeBinary, nullable=False),
    sa.UniqueConstraint("inbound_message_id", "position", name="uq_inbound_attachments_message_position"),
)

# A reply sent to an inbound message: its ledger row's Message-ID joins the conversation's thread.
inbound_replies = sa.Table(
    "inbound_replies",
    metadata,
    sa.Column("email_id", sa.String(24), primary_key=True),
    sa.Column("project_id", sa.String(24), nullable=False),
    sa.Column("inbound_message_id", sa.String(24), nullable=False),
    sa.Column("thread_id", sa.String(24), nullable=False),
    sa.Column("message_id_header", sa.String(998), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Index("ix_inbound_replies_project_message_id", "project_id", "message_id_header"),
)

# SMTP submission keys: the password an app gives to AUTH; only the SHA-256 is kept.
smtp_keys = sa.Table(
    "smtp_keys",
    metadata,
    id_column(),
    sa.Column("project_id", sa.String(24), sa.ForeignKey("projects.id"), nullable=False, index=True),
    sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("prefix", sa.String(16), nullable=False),
    sa.Column("name", sa.String(200), nullable=False, server_default=""),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("last_used_at", UTCDateTime),
    sa.Column("revoked_at", UTCDateTime),
)
