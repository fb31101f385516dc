"""Queries on event definitions (soft-deleted with deleted_at) and the per-contact event log."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from sendhouse.store.schema.automations import contact_events, event_definitions
from sendhouse.store.schema.core import projects

defs = event_definitions


def _live(project_id: str) -> sa.ColumnElement:
    return sa.and_(defs.c.project_id == project_id, defs.c.deleted_at.is_(None))


async def list_definitions(conn: AsyncConnection, project_id: str) -> list[dict]:
    query = sa.select(defs).where(_live(project_id)).order_by(defs.c.created_at.desc(), defs.c.id.desc())
    return [dict(r) for r in (await conn.execute(query)).mappings()]


async def lock_project(conn: AsyncConnection, project_id: str) -> None:
    """Serialise definition creates of one project (PostgreSQL row lock; SQLite has one writer)."""
    await conn.execute(sa.select(projects.c.id).where(projects.c.id == project_id).with_for_update())


async def count_definitions(conn: AsyncConnection, project_id: str) -> int:
    return (await conn.execute(sa.select(sa.func.count()).where(_live(project_id)))).scalar_one()


async def get_definition(conn: AsyncConnection, project_id: str, name: str) -> dict | None:
    query = sa.select(defs).where(_live(project_id), defs.c.event_name == name)
    row = (await conn.execute(query)).mappings().first()
    return dict(row) if row else None


async def insert_definition(conn: AsyncConnection, row: dict) -> None:
    await conn.execute(defs.insert().values(**row))


async def update_definition(conn: AsyncConnection, project_id: str, name: str, values: dict) -> dict | None:
    stmt = defs.update().where(_live(project_id), defs.c.event_name == name).values(**values).returning(defs)
    row = (await conn.execute(stmt)).mappings().first()
    return dict(row) if row else None


async def soft_delete(conn: AsyncConnection, project_id: str, name: str, now: datetime) -> bool:
    stmt = (
        defs.update()
        .where(_live(project_id), defs.c.event_name == name)
        .values(deleted_at=now, updated_at=now)
    )
    return (await conn.execute(stmt)).rowcount > 0


async def insert_event(conn: AsyncConnection, row: dict) -> None:
    await conn.execute(contact_events.insert().values(**row))


async def events_of_contact(conn: AsyncConnection, contact_id: str, limit: int) -> list[dict]:
    query = (
        sa.select(contact_events)
        .where(contact_events.c.contact_id == contact_id)
        .order_by(contact_events.c.created_at.desc(), contact_events.c.id.desc())
        .limit(limit)
    )
    return [dict(r) for r in (await conn.execute(query)).mappings()]


async def latest_events(conn: AsyncConnection, project_id: str, limit: int) -> list[dict]:
    query = (
        sa.select(contact_events)
        .where(contact_events.c.project_id == project_id)
        .order_by(contact_events.c.created_at.desc(), contact_events.c.id.desc())
        .limit(limit)
    )
    return [dict(r) for r in (await conn.execute(query)).mappings()]
