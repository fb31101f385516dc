"""Queries on authenticated senders (the `from` addresses a project may use)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from sendhouse.store.schema.campaigns import campaigns
from sendhouse.store.schema.content import senders, templates

FINISHED_CAMPAIGN_STATES = ("sent", "failed", "aborted")


async def insert_sender(conn: AsyncConnection, row: dict[str, Any]) -> bool:
    """Insert a sender; False when the project already has one with this email."""
    try:
        async with conn.begin_nested():
            await conn.execute(senders.insert().values(**row))
    except IntegrityError:
        return False
    return True


async def get_sender(conn: AsyncConnection, project_id: str, sender_id: str) -> dict | None:
    query = sa.select(senders).where(senders.c.project_id == project_id, senders.c.id == sender_id)
    row = (await conn.execute(query)).mappings().first()
    return dict(row) if row else None


async def list_senders(conn: AsyncConnection, project_id: str) -> list[dict]:
    query = (
        sa.select(senders)
        .where(senders.c.project_id == project_id)
        .order_by(senders.c.created_at, senders.c.id)
    )
    return [dict(r) for r in (await conn.execute(query)).mappings()]


async def senders_by_id(conn: AsyncConnection, project_id: str, sender_ids: set[str]) -> dict[str, dict]:
    """The project's senders among these ids, by id."""
    if not sender_ids:
        return {}
    query = sa.select(senders).where(senders.c.project_id == project_id, senders.c.id.in_(sorted(sender_ids)))
    return {r["id"]: dict(r) for r in (await conn.execute(query)).mappings()}


def _used_by_templates(project_id: str, sender_id: str) -> sa.Exists:
    return sa.exists().where(
        templates.c.project_id == project_id,
        templates.c.sender_id == sender_id,
        templates.c.deleted_at.is_(None),
    )


def _used_by_campaigns(project_id: str, sender_id: str) -> sa.Exists:
    """Campaigns of the project, not yet sent, failed or aborted, that send from this sender."""
    return sa.exists().where(
        campaigns.c.project_id == project_id,
        campaigns.c.from_sender_id == sender_id,
        campaigns.c.status.not_in(FINISHED_CAMPAIGN_STATES),
    )


async def delete_unused_sender(conn: AsyncConnection, project_id: str, sender_id: str) -> bool:
    """Delete a sender no live template and no unfinished campaign uses (one conditional DELETE)."""
    stmt = senders.delete().where(
        senders.c.project_id == project_id,
        senders.c.id == sender_id,
        ~_used_by_templates(project_id, sender_id),
        ~_used_by_campaigns(project_id, sender_id),
    )
    return (await conn.execute(stmt)).rowcount > 0


async def delete_senders(conn: AsyncConnection, project_id: str, sender_ids: list[str]) -> None:
    """Delete these senders; templates and campaigns that named them keep their copied address."""
    if not sender_ids:
        return
    await conn.execute(
        templates.update()
        .where(templates.c.project_id == project_id, templates.c.sender_id.in_(sender_ids))
        .values(sender_id=None)
    )
    await conn.execute(
        campaigns.update()
        .where(campaigns.c.project_id == project_id, campaigns.c.from_sender_id.in_(sender_ids))
        .values(from_sender_id=None)
    )
    await conn.execute(
        senders.delete().where(senders.c.project_id == project_id, senders.c.id.in_(sender_ids))
    )
