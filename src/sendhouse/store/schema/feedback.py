"""Tracking and feedback events: opens, clicks, bounces, complaints, unsubscribes.

Metrics are always derived from these rows and the ledger, never from counters in memory.
"""

import sqlalchemy as sa

from sendhouse.store.schema.base import id_column, metadata
from sendhouse.store.types import JSONType, UTCDateTime

message_events = sa.Table(
    "message_events",
    metadata,
    id_column(),
    sa.Column("project_id", sa.String(24), nullable=False),
    sa.Column("message_id", sa.String(24), nullable=False),  # ledger row
    sa.Column("campaign_id", sa.String(24)),
    sa.Column("email", sa.String(320)),  # the recipient, lower-case (soft bounces are counted per address)
    # bounced (permanent) | soft_bounced (transient) | opened | clicked | complained | unsubscribed
    # | resubscribed
    sa.Column("type", sa.String(16), nullable=False),
    sa.Column("url", sa.Text),
    sa.Column("is_automated", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("detail", JSONType),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Index("ix_message_events_campaign_type", "campaign_id", "type"),
    sa.Index("ix_message_events_message_type", "message_id", "type"),
    sa.Index("ix_message_events_project_email_type", "project_id", "email", "type"),
)
