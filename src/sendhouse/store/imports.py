"""Queries on dashboard CSV import jobs (`import_jobs`): created running, progress as rows are
read, finished or failed once; every change is a conditional UPDATE of a running job."""

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


async def update_running(conn: AsyncConnection, job_id: str, values: dict[str, Any],
                         *, stale_before: datetime | None = None) -> bool:
    """Change a job that is still running (and, with stale_before, not heard of since then)."""
    stmt = t.update().where(t.c.id == job_id, t.c.status == "running")
    if stale_before is not None:
        stmt = stmt.where(t.c.updated_at < stale_before)
    return (await conn.execute(stmt.values(**values))).rowcount == 1
