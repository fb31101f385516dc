"""Rows of a dashboard CSV import merged into the contact of an earlier row with the same email:
how many (import_jobs.merged_rows) and the first ones with both line numbers (import_jobs.repeats).

Revision ID: 0013_import_repeats
Revises: 0012_dns_results
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

revision = "0013_import_repeats"
down_revision = "0012_dns_results"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("import_jobs", sa.Column("merged_rows", sa.Integer(), nullable=True))
    op.add_column(
        "import_jobs",
        sa.Column(
            "repeats",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=True,
        ),
    )


def downgrade() -> None:
    op.drop_column("import_jobs", "repeats")
    op.drop_column("import_jobs", "merged_rows")
