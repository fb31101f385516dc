"""The stop fence and worker liveness: locks, never clocks.

Why this holds (the "no MAIL FROM after the pause/abort response" promise):

- A worker admits a campaign's message (lets it write MAIL FROM) only while it holds that
  campaign's lock in *shared* mode and has read the campaign's status as sending *after* taking
  it. Before it lets go of the lock it stops admitting and waits until every MAIL FROM it admitted
  has been answered (or failed). It lets go and takes the lock again every poll, so holds are short.
- Pause and abort commit the new status first, then take the same lock *exclusively* (which waits
  for every shared holder), let go of it, and only then answer.
- So a worker's hold either began before the commit (the stopper waits until it ends, and every
  MAIL FROM admitted under it was answered before that) or after it (its status read sees the new
  status and admits nothing). Neither branch looks at a clock or assumes a pause is short: a worker
  frozen by SIGSTOP, GC or VM steal while holding the lock simply makes the stopper wait for it.
- A worker whose process dies loses its locks with it (the kernel closes its files; PostgreSQL
  ends its session), so a dead worker never holds a stopper up.

PostgreSQL: session advisory locks (two-key form; class FENCE for campaigns, LIVE for workers) on
the worker's own poll connection, which runs in autocommit; the stopper uses a pooled connection
for the exclusive lock and PostgreSQL's lock queue keeps it from being starved by new shared holders.
SQLite (one host): `flock` on files beside the database (a fixed set of slots per campaign, never
deleted, so two processes always lock the same inode). Campaigns can share a slot, and a worker
sending one of them re-takes the slot's shared lock every poll; so that it cannot starve the
stopper of another, each slot has a gate file: a worker takes its slot only while it can take the
gate in shared mode for a moment, and the stopper holds the gate exclusively while it waits for
the slot. Once the stopper holds the gate, no new shared hold begins, and the existing ones end
within a poll; a worker that cannot take the gate admits nothing of that slot for that poll.

Liveness: each worker holds an exclusive LIVE lock for its life; `dead_owners` says which lease
owners no longer hold theirs, so a crashed worker's leases can be taken back within seconds
(services/sending.dead_grace: once they also went unrenewed for 10 s, as a worker whose session was
cut has no lock until it reconnects) and a live worker's leases are never taken back because a
database outage kept it from renewing them.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import hashlib
import logging
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from sendhouse.store.ledger import campaign_statuses

if TYPE_CHECKING:
    from sendhouse.store.db import Database

log = logging.getLogger("sendhouse.fence")
FENCE_CLASS, LIVE_CLASS = 0x5348_4601, 0x5348_4C01  # advisory lock classes (int4)
SLOTS = 4096  # SQLite campaign lock files
STOP_TIMEOUT = 30.0  # longest a pause/abort waits for a frozen worker before answering anyway
RETRY_EVERY = 0.002
SENDING = ("sending", "sending_gradual")


def lock_key(text: str) -> int:
    """A stable signed 32-bit key for an id (advisory lock objid, file slot)."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big", signed=True)


def make_fence(db: Database) -> Fence:
    return SqliteFence(db) if db.is_sqlite else PostgresFence(db)


class Fence:
    """The stopper's side (close), the workers' side (session) and the liveness check."""

    def __init__(self, db: Database, timeout: float = STOP_TIMEOUT):
        self.db, self.timeout = db, timeout

    async def close(self, campaign_id: str) -> bool:
        """After committing a pause/abort: wait until no worker may still admit the campaign's
        messages (every shared hold taken before the commit has ended). False on timeout."""
        started = time.monotonic()
        try:
            done = await self._exclusive(campaign_id)
        except Exception:
            log.exception("stop fence for campaign %s failed", campaign_id)
            return False
        if not done:
            log.error(
                "stop fence: campaign %s still held by a worker after %.0f s; answering anyway",
                campaign_id,
                time.monotonic() - started,
            )
        return done

    async def _exclusive(self, campaign_id: str) -> bool:
        raise NotImplementedError

    def session(self, worker_id: str) -> FenceSession:
        raise NotImplementedError

    async def dead_owners(self, owners: set[str]) -> set[str]:
        raise NotImplementedError


class FenceSession:
    """One worker's locks: its liveness lock, and the shared locks of the campaigns it sends.
    `epoch` grows each time the session is lost and re-made (locks held before are gone)."""

    epoch = 0

    async def start(self) -> None:
        raise NotImplementedError

    async def cycle(self, campaign_ids: list[str]) -> dict[str, str]:
        """Let go of every shared lock, take those of campaign_ids again (without waiting) and read
        their status; {campaign: status} of those now held. Campaigns found not sending are let
        go of at once (on SQLite) or at the next cycle (PostgreSQL)."""
        raise NotImplementedError

    async def stop(self) -> None:
        raise NotImplementedError


# --- SQLite: flock on files beside the database -------------------------------------------------


class SqliteFence(Fence):
    def __init__(self, db: Database, timeout: float = STOP_TIMEOUT):
        super().__init__(db, timeout)
        self.folder = Path(str(make_url(db.url).database) + "-locks")

    def campaign_file(self, campaign_id: str) -> Path:
        return self.folder / f"campaign-{lock_key(campaign_id) % SLOTS:04d}.lock"

    def gate_file(self, slot: Path) -> Path:
        return slot.with_name(slot.name.replace("campaign-", "gate-"))

    def worker_file(self, worker_id: str) -> Path:
        return self.folder / f"worker-{hashlib.sha256(worker_id.encode()).hexdigest()[:20]}.lock"

    async def _exclusive(self, campaign_id: str) -> bool:
        slot = self.campaign_file(campaign_id)
        gate, fd = _open(self.gate_file(slot)), _open(slot)
        try:
            deadline = time.monotonic() + self.timeout
            return await _wait_exclusive(gate, deadline) and await _wait_exclusive(fd, deadline)
        finally:
            os.close(fd)  # closing a file lets go of its lock
            os.close(gate)

    def session(self, worker_id: str) -> SqliteSession:
        return SqliteSession(self, worker_id)

    async def dead_owners(self, owners: set[str]) -> set[str]:
        return {owner for owner in owners if not _holds(self.worker_file(owner))}


class SqliteSession(FenceSession):
    def __init__(self, fence: SqliteFence, worker_id: str):
        self.fence, self.worker_id = fence, worker_id
        self.live_fd: int | None = None
        self.held: dict[Path, int] = {}

    async def start(self) -> None:
        self.fence.folder.mkdir(parents=True, exist_ok=True)
        self.live_fd = _open(self.fence.worker_file(self.worker_id))
        if not _flock(self.live_fd, fcntl.LOCK_EX):
            raise RuntimeError(f"worker id {self.worker_id} is already in use")

    async def cycle(self, campaign_ids: list[str]) -> dict[str, str]:
        self._release(list(self.held))
        files = {cid: self.fence.campaign_file(cid) for cid in campaign_ids}
        for path in set(files.values()):
            fd = _open(path)
            if self._through_gate(path, fd):
                self.held[path] = fd
            else:
                os.close(fd)
        mine = [cid for cid, path in files.items() if path in self.held]
        async with self.fence.db.read(snapshot=False) as conn:
            statuses = await campaign_statuses(conn, mine)
        sending = {files[cid] for cid, status in statuses.items() if status in SENDING}
        self._release([path for path in self.held if path not in sending])
        return statuses

    def _through_gate(self, slot: Path, fd: int) -> bool:
        """Take the slot's shared lock while holding its gate shared (no stopper waiting)."""
        gate = _open(self.fence.gate_file(slot))
        try:
            return _flock(gate, fcntl.LOCK_SH) and _flock(fd, fcntl.LOCK_SH)
        finally:
            os.close(gate)

    def _release(self, paths: list[Path]) -> None:
        for path in paths:
            fd = self.held.pop(path)
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    async def stop(self) -> None:
        self._release(list(self.held))
        if self.live_fd is not None:
            os.close(self.live_fd)
            self.live_fd = None
        self.fence.worker_file(self.worker_id).unlink(missing_ok=True)


def _open(path: Path) -> int:
    return os.open(path, os.O_RDWR | os.O_CREAT, 0o600)


async def _wait_exclusive(fd: int, deadline: float) -> bool:
    """Retry a non-blocking exclusive lock until it is taken (True) or the deadline passes."""
    while not _flock(fd, fcntl.LOCK_EX):
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(RETRY_EVERY)
    return True


def _flock(fd: int, mode: int) -> bool:
    """Take a flock without waiting; whether we got it."""
    try:
        fcntl.flock(fd, mode | fcntl.LOCK_NB)
        return True
    except OSError as error:
        if error.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            return False
        raise


def _holds(path: Path) -> bool:
    """Whether some live process holds the liveness file's lock (a missing file: nobody)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        if not _flock(fd, fcntl.LOCK_SH):
            return True
        path.unlink(missing_ok=True)  # its worker is gone for good (ids are never reused)
        return False
    finally:
        os.close(fd)


# --- PostgreSQL: session advisory locks --------------------------------------------------------

_UNLOCK_ALL = sa.text("SELECT pg_advisory_unlock_shared(:c, k) FROM unnest(CAST(:keys AS integer[])) AS k")
_TRY_SHARED = sa.text(
    "SELECT k, pg_try_advisory_lock_shared(:c, k) FROM unnest(CAST(:keys AS integer[])) AS k"
)
_DEAD = sa.text(
    "SELECT k, CASE WHEN pg_try_advisory_lock_shared(:c, k) THEN pg_advisory_unlock_shared(:c, k) "
    "ELSE false END FROM unnest(CAST(:keys AS integer[])) AS k"
)


class PostgresFence(Fence):
    async def _exclusive(self, campaign_id: str) -> bool:
        params = {"c": FENCE_CLASS, "k": lock_key(campaign_id)}
        conn = await self.db.engine.connect()  # a connection of its own: see the except below
        try:
            await conn.execute(sa.text(f"SET lock_timeout = '{int(self.timeout * 1000)}ms'"))
            try:
                await conn.execute(sa.text("SELECT pg_advisory_lock(:c, :k)"), params)
            except sa.exc.OperationalError:
                await conn.rollback()
                return False
            await conn.execute(sa.text("SELECT pg_advisory_unlock(:c, :k)"), params)
            await conn.execute(sa.text("RESET lock_timeout"))
            await conn.commit()
        except BaseException:
            await conn.invalidate()  # never hand a connection that may hold the lock back to the pool
            raise
        finally:
            await conn.close()
        return True

    def session(self, worker_id: str) -> PostgresSession:
        return PostgresSession(self, worker_id)

    async def dead_owners(self, owners: set[str]) -> set[str]:
        if not owners:
            return set()
        keys = {lock_key(owner): owner for owner in owners}
        async with self.db.read() as conn:
            rows = await conn.execute(_DEAD, {"c": LIVE_CLASS, "keys": list(keys)})
            return {keys[key] for key, dead in rows.all() if dead}


class PostgresSession(FenceSession):
    def __init__(self, fence: PostgresFence, worker_id: str):
        self.fence, self.worker_id = fence, worker_id
        self.engine = create_async_engine(
            fence.db.async_url, pool_size=1, max_overflow=0, isolation_level="AUTOCOMMIT"
        )
        self.conn: AsyncConnection | None = None
        self.held: list[int] = []
        self.epoch = 0

    async def start(self) -> None:
        self.conn = await self.engine.connect()
        self.held = []
        await self.conn.execute(
            sa.text("SELECT pg_advisory_lock(:c, :k)"), {"c": LIVE_CLASS, "k": lock_key(self.worker_id)}
        )

    async def cycle(self, campaign_ids: list[str]) -> dict[str, str]:
        if self.conn is None:
            self.epoch += 1
            await self.start()
        try:
            return await self._cycle(campaign_ids)
        except BaseException:
            await self._lose()
            raise

    async def _cycle(self, campaign_ids: list[str]) -> dict[str, str]:
        conn = self.conn
        assert conn is not None  # cycle() connects first
        if self.held:
            await conn.execute(_UNLOCK_ALL, {"c": FENCE_CLASS, "keys": self.held})
            self.held = []
        if not campaign_ids:
            await conn.execute(sa.text("SELECT 1"))  # the session (and its liveness lock) still stands
            return {}
        keys = {cid: lock_key(cid) for cid in campaign_ids}
        taken = await conn.execute(_TRY_SHARED, {"c": FENCE_CLASS, "keys": sorted(set(keys.values()))})
        self.held = [key for key, ok in taken.all() if ok]
        return await campaign_statuses(conn, [cid for cid, key in keys.items() if key in self.held])

    async def _lose(self) -> None:
        """The session is in doubt: drop it (and with it every lock it held)."""
        conn, self.conn, self.held = self.conn, None, []
        if conn is not None:
            with contextlib.suppress(Exception):  # the connection may already be gone
                await conn.invalidate()

    async def stop(self) -> None:
        """Let go of every lock at once (a closed connection's backend lets go of them only when it
        exits, a moment later), then drop the session."""
        if self.conn is not None:
            with contextlib.suppress(Exception):  # the connection may already be gone
                await self.conn.execute(sa.text("SELECT pg_advisory_unlock_all()"))
        await self._lose()
        await self.engine.dispose()
