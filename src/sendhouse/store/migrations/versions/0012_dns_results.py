"""What the last DNS check of a sending domain found of each of its records (domains.dns_results),
shown on the domain's dashboard page; empty until the domain is checked again.

Revision ID: 0012_dns_results
Revises: 0011_campaign_counters
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

revision = "0012_dns_results"
down_revision = "0011_campaign_counters"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "domains",
        sa.Column(
            "dns_results",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=True,
        ),
    )


def downgrade() -> None:
    op.drop_column("domains", "dns_results")
