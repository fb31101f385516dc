"""Shared small state in `kv_state`: token buckets for the send rate shared by every worker, and
small named texts (e.g. the project an account key's MCP calls act on).

A bucket row keeps `number` = tokens left and `updated_at` = when they were counted. take_tokens
refills by elapsed time × rate (capped at the burst; elapsed counted in whole microseconds and the
count rounded to 1e-9, so float error never loses a token), grants what it can and writes the rest back,
all inside the caller's write transaction: BEGIN IMMEDIATE on SQLite, a row lock
(SELECT … FOR UPDATE) on PostgreSQL, so two workers never spend the same token.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from sendhouse.store.schema.core import kv_state

MICROSECOND = timedelta(microseconds=1)
TOKEN_PRECISION = 9  # decimals kept of a token count (whole tokens are granted)


async def _ensure_bucket(conn: AsyncConnection, key: str, burst: float, now: datetime) -> None:
    exists = (await conn.execute(sa.select(kv_state.c.key).where(kv_state.c.key == key))).first()
    if exists is None:
        await conn.execute(
            sa.text(
                "INSERT INTO kv_state (key, number, updated_at) VALUES (:k, :n, :t) ON CONFLICT (key) DO NOTHING"
            ).bindparams(sa.bindparam("t", type_=kv_state.c.updated_at.type)),
            {"k": key, "n": burst, "t": now},
        )


async def take_tokens(
    conn: AsyncConnection, key: str, want: int, *, rate: float, burst: float, now: datetime
) -> int:
    """Take up to `want` whole tokens from the bucket `key`; return how many were granted."""
    await _ensure_bucket(conn, key, burst, now)
    row = (
        await conn.execute(
            sa.select(kv_state.c.number, kv_state.c.updated_at).where(kv_state.c.key == key).with_for_update()
        )
    ).one()
    elapsed_us = max(0, (now - row.updated_at) // MICROSECOND)
    tokens = min(float(burst), _exact((row.number or 0.0) + elapsed_us * rate / 1_000_000))
    granted = max(0, min(want, int(tokens)))
    await conn.execute(
        kv_state.update()
        .where(kv_state.c.key == key)
        .values(number=_exact(tokens - granted), updated_at=max(now, row.updated_at))
    )
    return granted


def _exact(tokens: float) -> float:
    """Token counts rounded to TOKEN_PRECISION decimals: 0.29 s × 100/s is 28.999999999999996 in
    binary floating point, and truncating that to whole tokens lost one token for good."""
    return round(tokens, TOKEN_PRECISION)


async def give_back(conn: AsyncConnection, key: str, count: int, *, burst: float) -> None:
    """Return unused tokens (never above the burst)."""
    if count <= 0:
        return
    await conn.execute(
        kv_state.update()
        .where(kv_state.c.key == key)
        .values(
            number=sa.func.min(kv_state.c.number + count, burst)
            if conn.dialect.name == "sqlite"
            else sa.func.least(kv_state.c.number + count, burst)
        )
    )


async def get_text(conn: AsyncConnection, key: str) -> str | None:
    row = (await conn.execute(sa.select(kv_state.c.text).where(kv_state.c.key == key))).first()
    return None if row is None else row.text


async def put_text(conn: AsyncConnection, key: str, text: str, now: datetime) -> None:
    """Set the text of `key` (one upsert statement, safe against a concurrent writer)."""
    await conn.execute(
        sa.text(
            "INSERT INTO kv_state (key, text, updated_at) VALUES (:k, :v, :t) "
            "ON CONFLICT (key) DO UPDATE SET text = excluded.text, updated_at = excluded.updated_at"
        ).bindparams(sa.bindparam("t", type_=kv_state.c.updated_at.type)),
        {"k": key, "v": text, "t": now},
    )


async def add_text(conn: AsyncConnection, key: str, text: str, now: datetime) -> bool:
    """Set the text of `key` unless it exists (concurrent writers: the first wins); whether it was added."""
    result = await conn.execute(
        sa.text(
            "INSERT INTO kv_state (key, text, updated_at) VALUES (:k, :v, :t) ON CONFLICT (key) DO NOTHING"
        ).bindparams(sa.bindparam("t", type_=kv_state.c.updated_at.type)),
        {"k": key, "v": text, "t": now},
    )
    return result.rowcount > 0


async def texts_with_prefix(conn: AsyncConnection, prefix: str) -> list[tuple[str, str]]:
    """(key, text) of every key starting with `prefix`, newest key name first."""
    query = (
        sa.select(kv_state.c.key, kv_state.c.text)
        .where(kv_state.c.key.startswith(prefix, autoescape=True))
        .order_by(kv_state.c.key.desc())
    )
    return [(row.key, row.text) for row in await conn.execute(query)]
