"""Queries on dashboard CSV import jobs (`import_jobs`): an upload waits for its column mapping
(`mapping`), is claimed once to run (`running`), reports progress as rows are read, and is
finished or failed once; every change is a conditional UPDATE of a job in the expected state."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from sendhouse.store.schema.dashboard import import_jobs as t


async def insert(conn: AsyncConnection, row: dict[str, Any]) -> None:
    await conn.execute(t.insert().values(**row))


async def get(conn: AsyncConnection, project_id: str, job_id: str) -> dict | None:
    query = sa.select(t).where(t.c.id == job_id, t.c.project_id == project_id)
    row = (await conn.execute(query)).mappings().first()
    return dict(row) if row else None


async def update_running(
    conn: AsyncConnection, job_id: str, values: dict[str, Any], *, stale_before: datetime | None = None
) -> bool:
    """Change a job that is still running (and, with stale_before, not heard of since then)."""
    stmt = t.update().where(t.c.id == job_id, t.c.status == "running")
    if stale_before is not None:
        stmt = stmt.where(t.c.updated_at < stale_before)
    return (await conn.execute(stmt.values(**values))).rowcount == 1


async def claim_mapping(conn: AsyncConnection, project_id: str, job_id: str, values: dict[str, Any]) -> bool:
    """mapping → running, once: whether this call won the upload."""
    stmt = t.update().where(t.c.id == job_id, t.c.project_id == project_id, t.c.status == "mapping")
    return (await conn.execute(stmt.values(status="running", **values))).rowcount == 1


async def delete_mappings_before(conn: AsyncConnection, project_id: str, before: datetime) -> list[str]:
    """Forget the project's uploads still waiting for a mapping since before `before`; their ids."""
    query = sa.select(t.c.id).where(
        t.c.project_id == project_id, t.c.status == "mapping", t.c.created_at < before
    )
    found = list((await conn.execute(query)).scalars())
    if found:
        await conn.execute(t.delete().where(t.c.id.in_(found), t.c.status == "mapping"))
    return found
