"""Dashboard users, their project memberships (issue 9) and their sessions.

Passwords are stored only as argon2 hashes; a user sees the projects listed in project_members.
A session is a row (only the SHA-256 of its token is stored; the cookie carries the token), so
logging out or changing the password revokes it on the server, not only in one browser.
"""

import sqlalchemy as sa

from sendhouse.store.schema.base import id_column, metadata
from sendhouse.store.types import UTCDateTime

users = sa.Table(
    "users",
    metadata,
    id_column(),
    sa.Column("email", sa.String(320), nullable=False, unique=True),  # lower-case
    sa.Column("password_hash", sa.String(255), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("last_login_at", UTCDateTime),
)

project_members = sa.Table(
    "project_members",
    metadata,
    sa.Column("user_id", sa.String(24), sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("project_id", sa.String(24), sa.ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("role", sa.String(16), nullable=False, server_default="owner"),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

dashboard_sessions = sa.Table(
    "dashboard_sessions",
    metadata,
    id_column(),
    sa.Column("user_id", sa.String(24), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
    sa.Column("revoked_at", UTCDateTime),
)
