"""Queries on `message_events` (opens, clicks, bounces, complaints, unsubscribes) and the ledger
rows they belong to: inserting events (and counting them in their campaigns' counters), one
message's lifecycle times, soft bounces per address and the rate basis of auto-pause.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from sendhouse.store import counters
from sendhouse.store.schema.audience import suppression_groups, suppressions
from sendhouse.store.schema.campaigns import campaigns, messages
from sendhouse.store.schema.feedback import message_events as ev

ROW_COLUMNS = (
    messages.c.id,
    messages.c.project_id,
    messages.c.campaign_id,
    messages.c.batch_id,
    messages.c.kind,
    messages.c.email,
    messages.c.name,
    messages.c.status,
    messages.c.sent_at,
    messages.c.failed_at,
    messages.c.message_id_header,
)


async def message_rows(conn: AsyncConnection, row_ids: Sequence[str]) -> dict[str, dict]:
    """Ledger rows (without their payload) by id; unknown ids are left out."""
    if not row_ids:
        return {}
    query = sa.select(*ROW_COLUMNS).where(messages.c.id.in_(sorted(set(row_ids))))
    return {r["id"]: dict(r) for r in (await conn.execute(query)).mappings()}


async def message_row(conn: AsyncConnection, row_id: str, project_id: str | None = None) -> dict | None:
    """One ledger row (of the project, when given), or None."""
    found = (await message_rows(conn, [row_id])).get(row_id)
    if found is None or (project_id is not None and found["project_id"] != project_id):
        return None
    return found


async def campaign_context(conn: AsyncConnection, campaign_id: str) -> dict | None:
    """What webhook payloads and unsubscribes need of a campaign."""
    query = sa.select(
        campaigns.c.id,
        campaigns.c.from_email,
        campaigns.c.from_name,
        campaigns.c.subject,
        campaigns.c.template_id,
        campaigns.c.unsubscribe_group_id,
        campaigns.c.threshold_preset,
        campaigns.c.status,
    ).where(campaigns.c.id == campaign_id)
    row = (await conn.execute(query)).mappings().first()
    return dict(row) if row else None


async def insert_events(conn: AsyncConnection, rows: list[dict]) -> None:
    """Insert events (the campaign counters count them: store/counters.py)."""
    if rows:
        await conn.execute(ev.insert(), rows)
        await counters.inserted(conn, rows)


async def has_event(conn: AsyncConnection, row_id: str, event_type: str) -> bool:
    query = sa.select(ev.c.id).where(ev.c.message_id == row_id, ev.c.type == event_type).limit(1)
    return (await conn.execute(query)).first() is not None


async def soft_bounces_of(conn: AsyncConnection, project_id: str, email: str) -> int:
    query = sa.select(sa.func.count()).where(
        ev.c.project_id == project_id, ev.c.email == email, ev.c.type == "soft_bounced"
    )
    return (await conn.execute(query)).scalar_one()


async def lifecycle(conn: AsyncConnection, row_id: str) -> dict[str, tuple[datetime, datetime, int]]:
    """{event type: (first at, last at, how many)} of one ledger row."""
    query = (
        sa.select(ev.c.type, sa.func.min(ev.c.created_at), sa.func.max(ev.c.created_at), sa.func.count())
        .where(ev.c.message_id == row_id)
        .group_by(ev.c.type)
    )
    return {kind: (first, last, n) for kind, first, last, n in await conn.execute(query)}


# --- suppression groups as the preference page sees them -----------------------------------


async def preference_groups(conn: AsyncConnection, project_id: str, email: str) -> list[dict]:
    """The project's active groups (global first), each with the address's suppression reason or None."""
    entry = (
        sa.select(suppressions.c.reason)
        .where(suppressions.c.group_id == suppression_groups.c.id, suppressions.c.email == email)
        .limit(1)
        .scalar_subquery()
        .label("reason")
    )
    query = (
        sa.select(
            suppression_groups.c.id,
            suppression_groups.c.group_code,
            suppression_groups.c.name,
            suppression_groups.c.description,
            suppression_groups.c.is_global,
            entry,
        )
        .where(suppression_groups.c.project_id == project_id, suppression_groups.c.is_active.is_(True))
        .order_by(
            suppression_groups.c.is_global.desc(), suppression_groups.c.created_at, suppression_groups.c.id
        )
    )
    return [dict(r) for r in (await conn.execute(query)).mappings()]


async def delete_unsubscribe(conn: AsyncConnection, group_id: str, email: str) -> bool:
    """Lift an UNSUBSCRIBE entry (never a bounce or complaint); whether one was removed."""
    stmt = suppressions.delete().where(
        suppressions.c.group_id == group_id,
        suppressions.c.email == email,
        suppressions.c.reason == "UNSUBSCRIBE",
    )
    return (await conn.execute(stmt)).rowcount > 0


async def rate_basis(conn: AsyncConnection, campaign_id: str) -> dict[str, int]:
    """{sent, delivered, bounced, complained} of a campaign, as the auto-pause rates use them (from
    its counters, as they stand in this transaction)."""
    found = await counters.read_current(conn, campaign_id)
    return {
        "sent": found["ledger_sent"] + found["ledger_bounced"] + found["failed_bounced"],
        "delivered": found["ledger_sent"],
        "bounced": found["bounced"],
        "complained": found["complained"],
    }
