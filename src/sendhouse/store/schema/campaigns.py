"""Campaigns, the per-recipient send ledger (`messages`), the queue every worker claims from, and
each campaign's counters of its ledger rows and feedback events (`campaign_counters`)."""

import sqlalchemy as sa

from sendhouse.store.schema.base import id_column, metadata
from sendhouse.store.types import JSONType, UTCDateTime

campaigns = sa.Table(
    "campaigns",
    metadata,
    id_column(),
    sa.Column("project_id", sa.String(24), sa.ForeignKey("projects.id"), nullable=False, index=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("subject", sa.String(998), nullable=False),
    sa.Column("preview_text", sa.String(200)),
    sa.Column("from_sender_id", sa.String(24)),
    sa.Column("from_email", sa.String(320)),
    sa.Column("from_name", sa.String(200)),
    sa.Column("reply_to", sa.String(320)),
    sa.Column("template_id", sa.String(24)),
    sa.Column("html_template", sa.Text),
    sa.Column("to_lists", JSONType, nullable=False),  # ["<list or segment id>", ...]
    sa.Column("exclude_lists", JSONType, nullable=False),
    sa.Column("unsubscribe_group_id", sa.String(24)),
    sa.Column("send_now", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("send_to_global_list", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("scheduled_at", UTCDateTime),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("send_mode", sa.String(20), nullable=False),
    sa.Column("gradual_strategy", sa.String(10)),
    sa.Column("daily_batch_size", sa.Integer),
    sa.Column("timezone", sa.String(64)),
    sa.Column("tracking_open", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("tracking_click", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("threshold_preset", sa.String(20), nullable=False, server_default="balanced"),
    sa.Column("source", sa.String(20), nullable=False, server_default="api"),
    sa.Column("builder_type", sa.String(20)),
    sa.Column("default_campaign", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_by", sa.String(200)),
    sa.Column("started_at", UTCDateTime),
    sa.Column("sent_at", UTCDateTime),
    sa.Column("aborted_at", UTCDateTime),
    sa.Column("paused_at", UTCDateTime),
    sa.Column("paused_reason", sa.Text),
    sa.Column("resumed_at", UTCDateTime),
    sa.Column("failure_reason", sa.Text),
    sa.Column("total_contacts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("suppressed_count", sa.Integer, nullable=False, server_default="0"),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Index("ix_campaigns_status_scheduled_at", "status", "scheduled_at"),
)

# One row per recipient per campaign, or per transactional send. The row is the queue:
#   queued -> sending (leased) -> sent | deferred (retry at) | failed | bounced
#   queued/deferred -> cancelled (abort) | suppressed (skipped at send time)
messages = sa.Table(
    "messages",
    metadata,
    id_column(),
    sa.Column("project_id", sa.String(24), nullable=False),
    sa.Column("campaign_id", sa.String(24), sa.ForeignKey("campaigns.id", ondelete="CASCADE")),
    sa.Column("batch_id", sa.String(36)),
    sa.Column("kind", sa.String(16), nullable=False),  # campaign | transactional
    sa.Column("priority", sa.SmallInteger, nullable=False, server_default="100"),
    sa.Column("contact_id", sa.String(24)),
    sa.Column("email", sa.String(320), nullable=False),
    sa.Column("name", sa.String(200)),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", UTCDateTime, nullable=False),
    sa.Column("lease_owner", sa.String(64)),
    sa.Column("lease_expires_at", UTCDateTime),
    sa.Column("message_id_header", sa.String(255), nullable=False),
    sa.Column("payload", JSONType),  # transactional content / per-recipient data
    sa.Column("last_error", sa.Text),
    sa.Column("smtp_response", sa.Text),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("sent_at", UTCDateTime),
    sa.Column("failed_at", UTCDateTime),
    sa.Index("ix_messages_claim", "status", "priority", "next_attempt_at"),
    sa.Index("ix_messages_campaign_status", "campaign_id", "status"),
    sa.Index("ix_messages_status_lease", "status", "lease_expires_at"),
    sa.Index("uq_messages_campaign_email", "campaign_id", "email", unique=True),
)

# What a campaign's metrics and progress are read from: kept by store/counters.py in the same
# transaction as the ledger change or feedback event it counts, so a counter always equals a recount.
#   ledger_rows: the campaign's ledger rows (set when its audience is expanded);
#   ledger_sent / _bounced / _failed / _cancelled: its rows in that status (the others are pending);
#   opened, human_opened, clicked, bounced, complained, unsubscribed: recipients (ledger rows) with
#   at least one such event (human_opened: an open not flagged automated); failed_bounced: failed
#   rows with a bounced event (refused at SMTP time).
COUNTER_COLUMNS = (
    "ledger_rows",
    "ledger_sent",
    "ledger_bounced",
    "ledger_failed",
    "ledger_cancelled",
    "opened",
    "human_opened",
    "clicked",
    "bounced",
    "complained",
    "unsubscribed",
    "failed_bounced",
)
campaign_counters = sa.Table(
    "campaign_counters",
    metadata,
    sa.Column(
        "campaign_id", sa.String(24), sa.ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True
    ),
    *(sa.Column(name, sa.Integer, nullable=False, server_default="0") for name in COUNTER_COLUMNS),
)
