"""The database handle: one async engine for writes, one for reads, on SQLite or PostgreSQL.

SQLite runs in WAL mode; every write transaction starts with BEGIN IMMEDIATE and the write
engine holds a single connection, so writers queue instead of failing on locks. PostgreSQL
uses psycopg 3 with ordinary pooled transactions. Each handle carries its stop fence
(`db.fence`, store/fence.py): the locks pause/abort and the workers meet on.

`after_commit(callback)` runs a callback once the enclosing `Database.write()` transaction has
committed (never when it rolls back); `event_after_commit` logs a structured event of a state
change that way. A write transaction's scoped objects (store/scoped.py) are flushed just before
its COMMIT: the campaign counters gather there.
`read(snapshot=False)` on SQLite skips the explicit BEGIN/COMMIT: each statement then sees the
latest commit on its own, for reads that need no snapshot (a few thread round trips fewer).
`quick_read()` is for a few indexed rows needing no snapshot: on SQLite its statements run at once
on the calling thread, through a synchronous connection of their own (a thread hop to the async
driver costs more than such a read; WAL readers never wait for the writer); on PostgreSQL its
statements run in autocommit (one round trip each, no BEGIN/COMMIT).
`write(quick=True)` does the same for a small write transaction on SQLite (the worker's claims and
outcome records): the whole transaction runs without yielding to the event loop, so SQLite's one
write lock is held for the statements' own time, not for as long as a busy event loop takes to come
back to each of them (the other processes' writers wait for that lock). Writers of all our processes
take turns on a file lock first (store/writer_turn.py), so BEGIN IMMEDIATE finds the lock free; when
another program holds it, the quick write gives up after QUICK_WRITE_PATIENCE and waits as usual.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from sendhouse import observability
from sendhouse.store.fence import make_fence
from sendhouse.store.scoped import scope_ended, transaction_scope
from sendhouse.store.writer_turn import WriterTurn, writer_turn_of

SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA synchronous=NORMAL",
)


def async_url(url: str) -> str:
    """Turn a user-facing URL (sqlite:///…, postgresql://…) into the async driver's URL."""
    if url.startswith("sqlite:"):
        return url.replace("sqlite:", "sqlite+aiosqlite:", 1)
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def sync_url(url: str) -> str:
    """The same database for a synchronous engine (Alembic, CLI)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _configure_sqlite(
    engine: AsyncEngine | sa.Engine, *, immediate: bool | None, busy_timeout: float
) -> None:
    """PRAGMAs on every new connection; transactions begun explicitly (BEGIN IMMEDIATE for the
    writer, BEGIN for readers), or never (immediate None: autocommit statements only)."""
    engine = getattr(engine, "sync_engine", engine)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        for pragma in (*SQLITE_PRAGMAS, f"PRAGMA busy_timeout={int(busy_timeout * 1000)}"):
            cursor.execute(pragma)
        cursor.close()

    if immediate is None:
        return

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        if conn.get_execution_options().get(NO_SNAPSHOT):
            return  # autocommit statements (the DBAPI connection runs with isolation_level=None)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


NO_SNAPSHOT = "sendhouse_no_snapshot"
QUICK_WRITE_PATIENCE = 0.05  # seconds a quick write's BEGIN IMMEDIATE blocks this thread at most
_pending: ContextVar[list[Callable[[], None]] | None] = ContextVar("sendhouse_after_commit", default=None)


def after_commit(callback: Callable[[], None]) -> None:
    """Run `callback` once the current `Database.write()` transaction commits (at once outside one)."""
    pending = _pending.get()
    if pending is None:
        callback()
    else:
        pending.append(callback)


def event_after_commit(logger: logging.Logger, action: str, level: int = logging.INFO, **fields: Any) -> None:
    """`observability.event(...)` once the current write transaction commits (at once outside one)."""
    after_commit(lambda: observability.event(logger, action, level, **fields))


def _run(callbacks: list[Callable[[], None]]) -> None:
    for callback in callbacks:
        callback()


class Database:
    """Read and write transactions on the configured database."""

    def __init__(self, url: str, *, pool_size: int = 10, busy_timeout: float = 30.0):
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self.is_postgres = not self.is_sqlite
        if self.is_sqlite:
            self._writer = create_async_engine(async_url(url), pool_size=1, max_overflow=0, pool_timeout=120)
            self._reader = create_async_engine(async_url(url), pool_size=pool_size, max_overflow=0)
            _configure_sqlite(self._writer, immediate=True, busy_timeout=busy_timeout)
            _configure_sqlite(self._reader, immediate=False, busy_timeout=busy_timeout)
            # quick reads: one connection kept, more opened if ever needed (checkout never waits)
            self._quick = sa.create_engine(
                url,
                pool_size=1,
                max_overflow=-1,
                pool_reset_on_return=None,
                connect_args={"check_same_thread": False},
            )
            _configure_sqlite(self._quick, immediate=None, busy_timeout=busy_timeout)
            self._turn: WriterTurn | None = writer_turn_of(url, busy_timeout)
            # quick writes: BEGIN IMMEDIATE gives up soon (a writer outside our turns holds the lock)
            self._quick_writer = sa.create_engine(
                url, pool_size=1, max_overflow=0, pool_timeout=120, connect_args={"check_same_thread": False}
            )
            _configure_sqlite(self._quick_writer, immediate=True, busy_timeout=QUICK_WRITE_PATIENCE)
        else:
            self._writer = create_async_engine(
                async_url(url), pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True
            )
            self._reader = self._writer
            self._turn = None
        self.async_url = async_url(url)
        self.fence = make_fence(self)  # the stop fence and worker liveness (store/fence.py)

    @property
    def engine(self) -> AsyncEngine:
        """The write engine (connections of its own, e.g. for session locks)."""
        return self._writer

    @property
    def dialect(self) -> str:
        return self._writer.dialect.name

    @asynccontextmanager
    async def write(self, *, quick: bool = False) -> AsyncIterator[AsyncConnection]:
        """A write transaction, committed on success and rolled back on error; its
        `transaction_scoped` objects are flushed just before the commit, `after_commit` callbacks
        registered inside it run after the commit. quick=True (SQLite; a few rows, no other await
        inside): the statements run at once on this thread (see the module docstring)."""
        callbacks: list[Callable[[], None]] = []
        token = _pending.set(callbacks)
        try:
            async with self._writers_turn(), self._transaction(quick) as conn, _scoped(conn):
                yield conn
        finally:
            _pending.reset(token)
        _run(callbacks)

    @asynccontextmanager
    async def _transaction(self, quick: bool) -> AsyncIterator[AsyncConnection]:
        with self._quick_transaction() if quick and self.is_sqlite else _NO_QUICK as sync:
            if sync is not None:
                yield sync
                return
            async with self._writer.begin() as conn:
                yield conn

    @contextlib.contextmanager
    def _quick_transaction(self) -> Iterator[AsyncConnection | None]:
        """A SQLite write transaction on a synchronous connection, used like an AsyncConnection; None
        when BEGIN IMMEDIATE finds the lock held past QUICK_WRITE_PATIENCE (wait without blocking)."""
        with self._quick_writer.connect() as sync:
            try:
                transaction = sync.begin()
            except sa.exc.OperationalError:
                yield None
                return
            with transaction:
                yield cast(AsyncConnection, QuickConnection(sync))

    def _writers_turn(self) -> contextlib.AbstractAsyncContextManager:
        """SQLite: this process's turn among the writers of every process (store/writer_turn.py)."""
        return self._turn.taken() if self._turn else contextlib.nullcontext()

    @asynccontextmanager
    async def read(self, *, snapshot: bool = True) -> AsyncIterator[AsyncConnection]:
        """A read-only transaction (never blocks writers on SQLite's WAL). snapshot=False on SQLite:
        no BEGIN/COMMIT, every statement reads the latest commit (PostgreSQL: a transaction anyway)."""
        if snapshot or not self.is_sqlite:
            async with self._reader.begin() as conn:
                yield conn
            return
        async with self._reader.connect() as conn:
            await conn.execution_options(**{NO_SNAPSHOT: True})
            yield conn

    @asynccontextmanager
    async def quick_read(self) -> AsyncIterator[AsyncConnection]:
        """A read of a few indexed rows that needs no snapshot (see the module docstring): SQLite
        runs each statement at once on this thread; PostgreSQL in autocommit."""
        if not self.is_sqlite:  # autocommit: each statement one round trip, no BEGIN/COMMIT around it
            async with self._reader.connect() as conn:
                yield await conn.execution_options(isolation_level="AUTOCOMMIT")
            return
        with self._quick.connect() as conn:
            yield cast(AsyncConnection, QuickConnection(conn))  # used like one: `await conn.execute`

    async def ping(self) -> None:
        async with self.read() as conn:
            await conn.execute(sa.text("SELECT 1"))

    async def close(self) -> None:
        if self.is_sqlite:
            self._quick.dispose()
            self._quick_writer.dispose()
        await self._writer.dispose()
        if self._reader is not self._writer:
            await self._reader.dispose()


@asynccontextmanager
async def _scoped(conn: AsyncConnection) -> AsyncIterator[None]:
    """The transaction's scoped objects (store/scoped.py), flushed before the commit."""
    scoped, token = transaction_scope(conn)
    try:
        yield
        await scoped.flush()
    finally:
        scope_ended(token)


_NO_QUICK = contextlib.nullcontext(None)


class QuickConnection:
    """The connection of a SQLite quick read, used like an AsyncConnection (`await conn.execute`):
    each statement runs at once on the calling thread and returns a buffered result."""

    def __init__(self, conn: sa.Connection):
        self._conn = conn

    @property
    def dialect(self) -> sa.Dialect:
        return self._conn.dialect

    async def execute(self, statement: sa.Executable, parameters: Any = None) -> sa.CursorResult:
        return self._conn.execute(statement, parameters)

    async def scalar(self, statement: sa.Executable, parameters: Any = None) -> Any:
        return self._conn.scalar(statement, parameters)

    async def get_raw_connection(self) -> Any:
        """The pooled DBAPI connection (its `driver_connection` is the sqlite3 connection itself)."""
        return self._conn.connection
