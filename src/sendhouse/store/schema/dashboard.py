"""Dashboard users, their project memberships, their sessions, and the dashboard's CSV import jobs.

Passwords are stored only as argon2 hashes; a user sees the projects listed in project_members.
A session is a row (only the SHA-256 of its token is stored; the cookie carries the token), so
logging out or changing the password revokes it on the server, not only in one browser.
An import job is a row (not process memory), from the upload awaiting its column mapping to the
report, so it outlives a restart and every API process sees it.
"""

import sqlalchemy as sa

from sendhouse.store.schema.base import id_column, metadata
from sendhouse.store.types import JSONType, UTCDateTime

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
    sa.Column(
        "project_id", sa.String(24), sa.ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("role", sa.String(16), nullable=False, server_default="owner"),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

import_jobs = sa.Table(
    "import_jobs",
    metadata,
    id_column(),
    sa.Column(
        "project_id",
        sa.String(24),
        sa.ForeignKey("projects.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column(
        "status", sa.String(16), nullable=False
    ),  # mapping (an upload awaiting its columns) | running | finished | failed
    sa.Column("total", sa.Integer, nullable=False),  # about how many rows the file has
    sa.Column("done", sa.Integer, nullable=False, server_default="0"),  # rows read so far
    sa.Column("rows_read", sa.Integer),  # the report, once finished
    sa.Column("imported", sa.Integer),
    sa.Column("failed", sa.Integer),
    sa.Column("errors", JSONType),  # [[line, message], ...], the first ones
    sa.Column("ignored_columns", JSONType),
    sa.Column("skipped_columns", JSONType),  # left out by choice at the mapping step
    sa.Column("merged_rows", sa.Integer),  # rows merged into an earlier row's contact (same email)
    sa.Column("repeats", JSONType),  # [[line, line of the same email before], ...], the first ones
    sa.Column("error", sa.Text),  # why the import failed
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

dashboard_sessions = sa.Table(
    "dashboard_sessions",
    metadata,
    id_column(),
    sa.Column(
        "user_id", sa.String(24), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    ),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
    sa.Column("revoked_at", UTCDateTime),
)
