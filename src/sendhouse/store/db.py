"""The database handle: one async engine for writes, one for reads, on SQLite or PostgreSQL.

SQLite runs in WAL mode; every write transaction starts with BEGIN IMMEDIATE and the write
engine holds a single connection, so writers queue instead of failing on locks. PostgreSQL
uses psycopg 3 with ordinary pooled transactions.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA busy_timeout=30000",
    "PRAGMA foreign_keys=ON",
    "PRAGMA synchronous=NORMAL",
)


def async_url(url: str) -> str:
    """Turn a user-facing URL (sqlite:///…, postgresql://…) into the async driver's URL."""
    if url.startswith("sqlite:"):
        return url.replace("sqlite:", "sqlite+aiosqlite:", 1)
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def sync_url(url: str) -> str:
    """The same database for a synchronous engine (Alembic, CLI)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def _configure_sqlite(engine: AsyncEngine, *, immediate: bool) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        for pragma in SQLITE_PRAGMAS:
            cursor.execute(pragma)
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


class Database:
    """Read and write transactions on the configured database."""

    def __init__(self, url: str, *, pool_size: int = 10):
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self.is_postgres = not self.is_sqlite
        if self.is_sqlite:
            self._writer = create_async_engine(async_url(url), pool_size=1, max_overflow=0, pool_timeout=120)
            self._reader = create_async_engine(async_url(url), pool_size=pool_size, max_overflow=0)
            _configure_sqlite(self._writer, immediate=True)
            _configure_sqlite(self._reader, immediate=False)
        else:
            self._writer = create_async_engine(
                async_url(url), pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True
            )
            self._reader = self._writer

    @property
    def dialect(self) -> str:
        return self._writer.dialect.name

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction, committed on success and rolled back on error."""
        async with self._writer.begin() as conn:
            yield conn

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A read-only transaction (never blocks writers on SQLite's WAL)."""
        async with self._reader.begin() as conn:
            yield conn

    async def ping(self) -> None:
        async with self.read() as conn:
            await conn.execute(sa.text("SELECT 1"))

    async def close(self) -> None:
        await self._writer.dispose()
        if self._reader is not self._writer:
            await self._reader.dispose()
