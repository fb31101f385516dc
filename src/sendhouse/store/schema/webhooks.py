"""Webhook endpoints and their stored deliveries.

`webhook_deliveries` is an outbox: a row is written (inside the transaction of the change that
caused the event) before any attempt is made, and the dispatcher claims due rows with a lease.
  pending -> delivering (leased) -> succeeded | pending (retry at next_attempt_at) | failed
"""

import sqlalchemy as sa

from sendhouse.store.schema.base import id_column, metadata
from sendhouse.store.types import JSONType, UTCDateTime

webhooks = sa.Table(
    "webhooks",
    metadata,
    id_column(),
    sa.Column("organization_id", sa.String(24), nullable=False),
    sa.Column("project_id", sa.String(24), sa.ForeignKey("projects.id"), nullable=False, index=True),
    sa.Column("url", sa.String(2048), nullable=False),
    sa.Column("secret", sa.String(100), nullable=False),  # whsec_<base64>, revealable by design
    sa.Column("events", JSONType, nullable=False),
    sa.Column("is_active", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("status", sa.String(16), nullable=False, server_default="active"),
    sa.Column("failure_count", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_failed_at", UTCDateTime),
    sa.Column("last_success_at", UTCDateTime),
    sa.Column("last_delivered_at", UTCDateTime),
    sa.Column("metadata", JSONType),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

webhook_deliveries = sa.Table(
    "webhook_deliveries",
    metadata,
    id_column(),  # also the X-Webhook-Delivery-Id / webhook-id, stable across retries
    sa.Column("webhook_id", sa.String(24), sa.ForeignKey("webhooks.id", ondelete="CASCADE"), nullable=False),
    sa.Column("project_id", sa.String(24), nullable=False),
    sa.Column("event", sa.String(64), nullable=False),
    sa.Column("payload", sa.LargeBinary, nullable=False),  # the exact bytes sent on every attempt
    sa.Column("status", sa.String(16), nullable=False),  # pending | delivering | succeeded | failed
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", UTCDateTime, nullable=False),
    sa.Column("lease_owner", sa.String(24)),
    sa.Column("lease_expires_at", UTCDateTime),
    sa.Column("url", sa.String(2048)),  # the target of the last attempt
    sa.Column("status_code", sa.Integer),
    sa.Column("error_message", sa.Text),
    sa.Column("duration_ms", sa.Integer),
    sa.Column("delivered_at", UTCDateTime),
    sa.Column("finished_at", UTCDateTime),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Index("ix_webhook_deliveries_status_next_attempt_at", "status", "next_attempt_at"),
    sa.Index("ix_webhook_deliveries_webhook_id_id", "webhook_id", "id"),
)
