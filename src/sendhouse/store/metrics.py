"""Read-only counts for /metrics, derived from the ledger and the event log at scrape time."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from sendhouse.store.ledger import PENDING
from sendhouse.store.schema.campaigns import campaigns, messages
from sendhouse.store.schema.feedback import message_events

FEEDBACK_TYPES = ("bounced", "soft_bounced", "complained")


async def messages_by_status(conn: AsyncConnection) -> dict[tuple[str, str], int]:
    """Ledger rows of every project by (kind, status)."""
    query = sa.select(messages.c.kind, messages.c.status, sa.func.count()).group_by(
        messages.c.kind, messages.c.status
    )
    return {(kind, status): n for kind, status, n in (await conn.execute(query)).all()}


async def feedback_counts(conn: AsyncConnection) -> dict[str, int]:
    """Bounce and complaint events recorded (hard bounces at SMTP time or by DSN, soft, complaints)."""
    query = (
        sa.select(message_events.c.type, sa.func.count())
        .where(message_events.c.type.in_(FEEDBACK_TYPES))
        .group_by(message_events.c.type)
    )
    found: dict[str, int] = dict((await conn.execute(query)).all())
    return {kind: found.get(kind, 0) for kind in FEEDBACK_TYPES}


async def pending_by_campaign(conn: AsyncConnection) -> list[tuple[str, str, str, int]]:
    """(project id, campaign id, status, rows) of campaign rows still queued, sending or deferred."""
    query = (
        sa.select(campaigns.c.project_id, messages.c.campaign_id, messages.c.status, sa.func.count())
        .join(campaigns, campaigns.c.id == messages.c.campaign_id)
        .where(messages.c.status.in_(PENDING))
        .group_by(campaigns.c.project_id, messages.c.campaign_id, messages.c.status)
    )
    return [tuple(row) for row in (await conn.execute(query)).all()]
