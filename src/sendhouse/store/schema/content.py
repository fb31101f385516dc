"""Templates, senders and sending domains with their DKIM keys."""

import sqlalchemy as sa

from sendhouse.store.schema.base import id_column, metadata
from sendhouse.store.types import JSONType, UTCDateTime

templates = sa.Table(
    "templates",
    metadata,
    sa.Column("id", sa.String(24), primary_key=True),  # "A-" + 20 hex
    sa.Column("project_id", sa.String(24), sa.ForeignKey("projects.id"), nullable=False, index=True),
    sa.Column("name", sa.String(90), nullable=False),
    sa.Column("description", sa.String(140)),
    sa.Column("subject", sa.String(988), nullable=False),
    sa.Column("preview_text", sa.String(140)),
    sa.Column("html", sa.Text),
    sa.Column("plain_text", sa.Text),
    sa.Column("template_type", sa.String(20), nullable=False, server_default="transactional"),
    sa.Column("builder_type", sa.String(10), nullable=False, server_default="code"),
    sa.Column("dynamic_variables", JSONType),
    sa.Column("sender_id", sa.String(24)),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("deleted_at", UTCDateTime),
)

senders = sa.Table(
    "senders",
    metadata,
    id_column(),
    sa.Column("project_id", sa.String(24), sa.ForeignKey("projects.id"), nullable=False),
    sa.Column("email", sa.String(320), nullable=False),
    sa.Column("name", sa.String(200)),
    sa.Column("reply_to", sa.String(320)),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("project_id", "email", name="uq_senders_project_email"),
)

domains = sa.Table(
    "domains",
    metadata,
    id_column(),
    sa.Column("project_id", sa.String(24), sa.ForeignKey("projects.id"), nullable=False),
    sa.Column("domain_name", sa.String(253), nullable=False),
    sa.Column("region_key", sa.String(32), nullable=False),
    sa.Column("verification_status", sa.String(32), nullable=False),
    sa.Column("ownership_verified", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("dkim_enabled", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("mail_from_enabled", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("dmarc_enabled", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("ownership_token", sa.String(64), nullable=False),
    sa.Column("dkim_selector", sa.String(63), nullable=False),
    sa.Column("dkim_private_key", sa.Text, nullable=False),  # encrypted with the secret key
    sa.Column("dkim_public_key", sa.Text, nullable=False),  # base64 DER, as published in DNS
    sa.Column("last_checked_at", UTCDateTime),
    sa.Column("dns_results", JSONType),  # the last check, per record: {purpose: {state, seen}}
    sa.Column("verified_at", UTCDateTime),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("project_id", "domain_name", name="uq_domains_project_domain"),
)
