"""Queries on stored Idempotency-Key records."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from sendhouse.store.schema.core import idempotency_keys as t


async def find(conn: AsyncConnection, api_key_id: str, route: str, key: str, since: datetime) -> dict | None:
    query = sa.select(t).where(
        t.c.api_key_id == api_key_id, t.c.route == route, t.c.idem_key == key, t.c.created_at >= since
    )
    row = (await conn.execute(query)).mappings().first()
    return dict(row) if row else None


async def delete_stale(
    conn: AsyncConnection, api_key_id: str, route: str, key: str, before: datetime
) -> None:
    """Drop the scope's expired record, or an unfinished claim left by an older version."""
    await conn.execute(
        t.delete().where(
            t.c.api_key_id == api_key_id,
            t.c.route == route,
            t.c.idem_key == key,
            sa.or_(t.c.created_at < before, t.c.status_code.is_(None)),
        )
    )


async def insert(conn: AsyncConnection, row: dict[str, Any]) -> None:
    await conn.execute(t.insert().values(**row))
