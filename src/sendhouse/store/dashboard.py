"""Read-only queries the dashboard needs beyond the API's: tracking events over time and per link."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from sendhouse.store.schema.campaigns import messages
from sendhouse.store.schema.feedback import message_events as ev

TRACKED = ("opened", "clicked")


async def event_times(conn: AsyncConnection, campaign_id: str, *, limit: int) -> list[tuple[str, datetime]]:
    """(type, time) of a campaign's human opens and clicks, oldest first, at most `limit` of them."""
    query = (
        sa.select(ev.c.type, ev.c.created_at)
        .where(ev.c.campaign_id == campaign_id, ev.c.type.in_(TRACKED), ev.c.is_automated.is_(False))
        .order_by(ev.c.created_at)
        .limit(limit)
    )
    return [(kind, at) for kind, at in await conn.execute(query)]


async def clicks_per_link(conn: AsyncConnection, campaign_id: str, *, limit: int = 50) -> list[dict]:
    """Per clicked URL of a campaign: {url, total, unique}, most clicked first."""
    total = sa.func.count().label("total")
    query = (
        sa.select(ev.c.url, total, sa.func.count(sa.distinct(ev.c.message_id)))
        .where(ev.c.campaign_id == campaign_id, ev.c.type == "clicked")
        .group_by(ev.c.url)
        .order_by(total.desc(), ev.c.url)
        .limit(limit)
    )
    return [{"url": url, "total": n, "unique": u} for url, n, u in await conn.execute(query)]


async def project_message_ids(conn: AsyncConnection, project_id: str, headers: list[str]) -> set[str]:
    """Which of these Message-ID headers belong to ledger rows of the project."""
    if not headers:
        return set()
    query = sa.select(messages.c.message_id_header).where(
        messages.c.project_id == project_id, messages.c.message_id_header.in_(headers)
    )
    return set((await conn.execute(query)).scalars())


async def outbox_rows(conn: AsyncConnection, project_id: str, headers: list[str]) -> dict[str, dict]:
    """{Message-ID header: {campaignId, status}} of the project's ledger rows with these headers."""
    if not headers:
        return {}
    query = sa.select(messages.c.message_id_header, messages.c.campaign_id, messages.c.status).where(
        messages.c.project_id == project_id, messages.c.message_id_header.in_(headers)
    )
    return {h: {"campaignId": c, "status": s} for h, c, s in await conn.execute(query)}
