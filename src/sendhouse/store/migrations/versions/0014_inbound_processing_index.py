"""Housekeeping looks for inbound messages left PROCESSING every 30 s: a partial index on
received_at of those rows, so the look reads only them.

Revision ID: 0014_inbound_processing_index
Revises: 0013_import_repeats
"""

import sqlalchemy as sa
from alembic import op

revision = "0014_inbound_processing_index"
down_revision = "0013_import_repeats"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_inbound_messages_processing",
        "inbound_messages",
        ["received_at"],
        sqlite_where=sa.text("status = 'PROCESSING'"),
        postgresql_where=sa.text("status = 'PROCESSING'"),
    )


def downgrade() -> None:
    op.drop_index("ix_inbound_messages_processing", table_name="inbound_messages")
