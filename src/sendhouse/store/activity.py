"""Project-wide email activity over a time window: ledger rows by status and tracking/feedback
events by type (each message counted once per type), for MCP's get_email_activity_analytics."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from sendhouse.store.schema.campaigns import messages
from sendhouse.store.schema.feedback import message_events


async def ledger_counts(
    conn: AsyncConnection, project_id: str, start: datetime, end: datetime, kind: str | None
) -> dict[str, int]:
    """{ledger status: rows} of the messages created in [start, end)."""
    query = (
        sa.select(messages.c.status, sa.func.count())
        .where(
            messages.c.project_id == project_id,
            messages.c.created_at >= start,
            messages.c.created_at < end,
        )
        .group_by(messages.c.status)
    )
    if kind:
        query = query.where(messages.c.kind == kind)
    return dict((await conn.execute(query)).all())


async def event_counts(
    conn: AsyncConnection, project_id: str, start: datetime, end: datetime, kind: str | None
) -> dict[str, int]:
    """{event type: distinct messages} of the events recorded in [start, end); automated opens aside."""
    ev = message_events
    query = (
        sa.select(ev.c.type, sa.func.count(sa.distinct(ev.c.message_id)))
        .where(
            ev.c.project_id == project_id,
            ev.c.created_at >= start,
            ev.c.created_at < end,
            sa.not_(ev.c.is_automated),
        )
        .group_by(ev.c.type)
    )
    if kind:
        of_kind = sa.select(messages.c.id).where(messages.c.project_id == project_id, messages.c.kind == kind)
        query = query.where(ev.c.message_id.in_(of_kind))
    return dict((await conn.execute(query)).all())
