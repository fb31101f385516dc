"""Per-campaign counters of ledger rows and feedback events (campaign_counters), backfilled by
counting the ledger and the events of every existing campaign.

Run it with the workers stopped (as every migration): an outcome recorded by an older process
between the backfill and its stop would not be counted.

Revision ID: 0011_campaign_counters
Revises: 0010_health
"""

import sqlalchemy as sa
from alembic import op

revision = "0011_campaign_counters"
down_revision = "0010_health"
branch_labels = None
depends_on = None

COLUMNS = (
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


def _rows(status: str | None = None) -> str:
    which = f" AND m.status = '{status}'" if status else ""
    return f"(SELECT count(*) FROM messages m WHERE m.campaign_id = c.id{which})"


def _recipients(event_type: str, extra: str = "") -> str:
    return (
        f"(SELECT count(DISTINCT e.message_id) FROM message_events e "
        f"WHERE e.campaign_id = c.id AND e.type = '{event_type}'{extra})"
    )


BACKFILL = (
    f"INSERT INTO campaign_counters (campaign_id, {', '.join(COLUMNS)}) SELECT c.id, "
    + ", ".join(
        (
            _rows(),
            _rows("sent"),
            _rows("bounced"),
            _rows("failed"),
            _rows("cancelled"),
            _recipients("opened"),
            _recipients("opened", " AND e.is_automated = false"),
            _recipients("clicked"),
            _recipients("bounced"),
            _recipients("complained"),
            _recipients("unsubscribed"),
            _recipients(
                "bounced",
                " AND EXISTS (SELECT 1 FROM messages f WHERE f.id = e.message_id AND f.status = 'failed')",
            ),
        )
    )
    + " FROM campaigns c"
)


def upgrade() -> None:
    op.create_table(
        "campaign_counters",
        sa.Column("campaign_id", sa.String(length=24), nullable=False),
        *(sa.Column(name, sa.Integer(), server_default="0", nullable=False) for name in COLUMNS),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_campaign_counters_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("campaign_id", name=op.f("pk_campaign_counters")),
    )
    op.execute(BACKFILL)


def downgrade() -> None:
    op.drop_table("campaign_counters")
