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


async def delete_scope(conn: AsyncConnection, api_key_id: str, route: str, key: str) -> None:
    await conn.execute(t.delete().where(t.c.api_key_id == api_key_id, t.c.route == route, t.c.idem_key == key))


async def insert(conn: AsyncConnection, row: dict[str, Any]) -> None:
    await conn.execute(t.insert().values(**row))


async def complete(conn: AsyncConnection, record_id: str, status_code: int, response: Any) -> None:
    await conn.execute(t.update().where(t.c.id == record_id).values(status_code=status_code, response=response))


async def delete(conn: AsyncConnection, record_id: str) -> None:
    await conn.execute(t.delete().where(t.c.id == record_id))
