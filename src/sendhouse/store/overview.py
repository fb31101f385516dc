"""Read-only counts for the dashboard's overview: contacts added, feedback events of the last
days, domains still unverified and campaigns paused by Sendhouse itself."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from sendhouse.store.schema.audience import contacts
from sendhouse.store.schema.campaigns import campaigns
from sendhouse.store.schema.content import domains
from sendhouse.store.schema.feedback import message_events as ev

WATCHED_EVENTS = ("bounced", "complained", "unsubscribed")


async def contacts_between(
    conn: AsyncConnection, project_id: str, start: datetime | None, end: datetime
) -> int:
    """Contacts of the project created in [start, end) (all before `end` without a start)."""
    query = sa.select(sa.func.count()).where(contacts.c.project_id == project_id, contacts.c.created_at < end)
    if start is not None:
        query = query.where(contacts.c.created_at >= start)
    return (await conn.execute(query)).scalar_one()


async def events_since(conn: AsyncConnection, project_id: str, since: datetime) -> dict[str, int]:
    """{event type: count} of bounces, complaints and unsubscribes since `since`."""
    query = (
        sa.select(ev.c.type, sa.func.count())
        .where(ev.c.project_id == project_id, ev.c.created_at >= since, ev.c.type.in_(WATCHED_EVENTS))
        .group_by(ev.c.type)
    )
    found = dict.fromkeys(WATCHED_EVENTS, 0)
    found.update(dict((await conn.execute(query)).all()))
    return found


async def unverified_domains(conn: AsyncConnection, project_id: str) -> list[dict]:
    query = (
        sa.select(domains.c.id, domains.c.domain_name.label("name"), domains.c.verification_status)
        .where(domains.c.project_id == project_id, domains.c.verification_status != "VERIFIED")
        .order_by(domains.c.domain_name)
    )
    return [dict(r) for r in (await conn.execute(query)).mappings()]


async def auto_paused_campaigns(conn: AsyncConnection, project_id: str) -> list[dict]:
    query = (
        sa.select(campaigns.c.id, campaigns.c.name, campaigns.c.paused_reason, campaigns.c.paused_at)
        .where(
            campaigns.c.project_id == project_id,
            campaigns.c.status == "paused",
            campaigns.c.paused_reason.is_not(None),
        )
        .order_by(campaigns.c.paused_at.desc())
    )
    return [dict(r) for r in (await conn.execute(query)).mappings()]
