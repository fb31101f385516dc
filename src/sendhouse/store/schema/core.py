"""Organizations, projects, API keys, idempotency records and shared counters."""

import sqlalchemy as sa

from sendhouse.store.schema.base import id_column, metadata
from sendhouse.store.types import JSONType, UTCDateTime

organizations = sa.Table(
    "organizations",
    metadata,
    id_column(),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

projects = sa.Table(
    "projects",
    metadata,
    id_column(),
    sa.Column("organization_id", sa.String(24), sa.ForeignKey("organizations.id"), nullable=False),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("domain", sa.String(253)),
    sa.Column("region_key", sa.String(32), nullable=False, server_default="us-east-1"),
    sa.Column("tracking_open", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("tracking_click", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("deleted_at", UTCDateTime),
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    id_column(),
    sa.Column("organization_id", sa.String(24), sa.ForeignKey("organizations.id"), nullable=False),
    sa.Column("project_id", sa.String(24), sa.ForeignKey("projects.id")),
    sa.Column("kind", sa.String(16), nullable=False),  # project | account
    sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("prefix", sa.String(16), nullable=False),
    sa.Column("name", sa.String(200), nullable=False, server_default=""),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("revoked_at", UTCDateTime),
    sa.Column("expires_at", UTCDateTime),  # none: never expires
    sa.Column("last_used_at", UTCDateTime),  # stamped at most once a minute
)

idempotency_keys = sa.Table(
    "idempotency_keys",
    metadata,
    id_column(),
    sa.Column("api_key_id", sa.String(24), nullable=False),
    sa.Column("project_id", sa.String(24), nullable=False),
    sa.Column("route", sa.String(100), nullable=False),
    sa.Column("idem_key", sa.String(256), nullable=False),
    sa.Column("body_hash", sa.String(64), nullable=False),
    sa.Column("status_code", sa.Integer),
    sa.Column("response", JSONType),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("api_key_id", "route", "idem_key", name="uq_idempotency_keys_scope"),
)

# Shared counters and small state kept in the database so every process sees them
# (send-rate token buckets, scheduler heartbeat).
kv_state = sa.Table(
    "kv_state",
    metadata,
    sa.Column("key", sa.String(200), primary_key=True),
    sa.Column("number", sa.Float),
    sa.Column("text", sa.Text),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)
