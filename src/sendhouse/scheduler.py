"""The scheduler loop: fires due campaigns, releases gradual batches, finishes and expires campaigns.

Each tick (with an injectable `now`):
- scheduled campaigns whose time has come start (services.campaigns.start_campaign: audience
  expanded into ledger rows); one whose time was missed by more than stale_schedule_after (the
  server was down) is paused with a pausedReason instead of firing silently;
- gradual campaigns get dailyBatchSize × factor^(day-1) rows per local day (campaign timezone)
  made claimable; the rest stay held (next_attempt_at = ledger.HOLD_UNTIL);
- campaigns paused for PAUSED_ABORT_AFTER are aborted (pending rows cancelled);
- sending campaigns with nothing pending become sent (finish_if_complete).
On PostgreSQL only the holder of an advisory lock ticks, so exactly one scheduler is active.
Logged events (after their commits): campaign_started / campaign_finished (services.campaigns),
campaign_stale_schedule_paused and campaign_auto_aborted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import zoneinfo
from collections.abc import Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from sendhouse.domain.campaigns import GRADUAL_STRATEGIES
from sendhouse.domain.times import utcnow
from sendhouse.runtime import running
from sendhouse.services import campaigns as campaign_service
from sendhouse.store import campaigns as campaign_store
from sendhouse.store import ledger
from sendhouse.store.db import async_url, event_after_commit
from sendhouse.store.schema.campaigns import campaigns

log = logging.getLogger("sendhouse.scheduler")
PAUSED_ABORT_AFTER = timedelta(days=14)
ADVISORY_LOCK_KEY = 0x53454E44  # "SEND"
TICK_SECONDS = 1.0
MAX_ALLOWANCE = 10**9


def gradual_allowance(
    started_at: datetime, now: datetime, tz_name: str | None, daily: int, strategy: str | None
) -> int:
    """Rows a gradual campaign may have released by `now`: the sum of each local day's batch."""
    tz = _zone(tz_name)
    day = (now.astimezone(tz).date() - started_at.astimezone(tz).date()).days + 1
    factor, total, batch = GRADUAL_STRATEGIES.get(strategy or "fixed", 1.0), 0, float(max(0, daily))
    for _ in range(max(0, day)):
        total += round(batch)
        batch *= factor
        if total >= MAX_ALLOWANCE:
            return MAX_ALLOWANCE
    return total


def _zone(name: str | None) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(name or "UTC")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("UTC")


class Scheduler:
    """Periodic campaign transitions; `tick(now)` is one pass, `run()` loops while leader."""

    def __init__(self, container, *, clock: Callable[[], datetime] = utcnow, interval: float = TICK_SECONDS):
        self.db, self.settings = container.db, container.settings
        self.clock, self.interval = clock, interval
        self.stopping = asyncio.Event()

    async def tick(self, now: datetime | None = None) -> dict[str, list[str]]:
        """One pass over every rule; which campaigns each rule touched."""
        now = now or self.clock()
        started, stale = await self.fire_due(now)
        return {
            "started": started,
            "stale": stale,
            "released": await self.release_gradual(now),
            "aborted": await self.abort_long_paused(now),
            "finished": await self.finish_complete(now),
        }

    async def _ids(self, where) -> list[sa.Row[Any]]:
        async with self.db.read() as conn:
            query = (
                sa.select(
                    campaigns.c.id,
                    campaigns.c.scheduled_at,
                    campaigns.c.started_at,
                    campaigns.c.timezone,
                    campaigns.c.daily_batch_size,
                    campaigns.c.gradual_strategy,
                )
                .where(where)
                .order_by(campaigns.c.id)
            )
            return list((await conn.execute(query)).all())

    async def fire_due(self, now: datetime) -> tuple[list[str], list[str]]:
        """Start due scheduled campaigns; pause those whose time was missed too long ago."""
        due = await self._ids(
            sa.and_(
                campaigns.c.status == "scheduled",
                sa.or_(campaigns.c.scheduled_at.is_(None), campaigns.c.scheduled_at <= now),
            )
        )
        started, stale = [], []
        for row in due:
            if row.scheduled_at is not None and now - row.scheduled_at > timedelta(
                seconds=self.settings.stale_schedule_after
            ):
                if await self._pause_stale(row.id, row.scheduled_at, now):
                    stale.append(row.id)
            elif await campaign_service.start_campaign(self.db, row.id, now) is not None:
                started.append(row.id)
        return started, stale

    async def _pause_stale(self, campaign_id: str, scheduled_at: datetime, now: datetime) -> bool:
        late = int((now - scheduled_at).total_seconds() // 60)
        reason = (
            f"The scheduled start ({scheduled_at.isoformat()}) was missed by {late} minutes "
            "(the server was not running); resume to send now."
        )
        async with self.db.write() as conn:
            return await campaign_service.pause_for_reason(
                conn, campaign_id, reason, now, action="campaign_stale_schedule_paused"
            )

    async def release_gradual(self, now: datetime) -> list[str]:
        """Hold a gradual campaign's rows beyond today's allowance; release up to the allowance."""
        touched = []
        for row in await self._ids(campaigns.c.status == "sending_gradual"):
            allowance = gradual_allowance(
                row.started_at or now, now, row.timezone, row.daily_batch_size or 0, row.gradual_strategy
            )
            async with self.db.write() as conn:
                await ledger.hold_beyond(conn, row.id, allowance, now)
                released = await ledger.released_count(conn, row.id)
                if await ledger.release_held(conn, row.id, allowance - released, now):
                    touched.append(row.id)
        return touched

    async def abort_long_paused(self, now: datetime) -> list[str]:
        """Campaigns paused for 14 days are aborted, their pending rows cancelled."""
        aborted = []
        cutoff = now - PAUSED_ABORT_AFTER
        for row in await self._ids(sa.and_(campaigns.c.status == "paused", campaigns.c.paused_at <= cutoff)):
            values = {
                "status": "aborted",
                "aborted_at": now,
                "updated_at": now,
                "paused_reason": "Aborted automatically after 14 days paused",
            }
            async with self.db.write() as conn:
                ok = await campaign_store.transition(
                    conn, row.id, campaign_store.status_in(("paused",)), values
                )
                if ok:
                    cancelled = await ledger.cancel_pending(conn, row.id, now)
                    event_after_commit(
                        log,
                        "campaign_auto_aborted",
                        campaign_id=row.id,
                        cancelled=cancelled,
                        reason=values["paused_reason"],
                    )
                    aborted.append(row.id)
        return aborted

    async def finish_complete(self, now: datetime) -> list[str]:
        """Sending campaigns with no queued, sending or deferred row become sent."""
        finished = []
        for row in await self._ids(campaigns.c.status.in_(ledger.SENDING_CAMPAIGN)):
            async with self.db.write() as conn:
                if await campaign_service.finish_if_complete(conn, row.id, now):
                    finished.append(row.id)
        return finished

    async def run(self) -> None:
        """Tick every interval while this process holds the scheduler lock."""
        async with leadership(self.db, self.stopping) as leading:
            while not self.stopping.is_set():
                if leading():
                    try:
                        await self.tick(self.clock())
                    except Exception:  # one bad pass must not stop scheduling
                        log.exception("scheduler tick failed")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stopping.wait(), self.interval)

    def stop(self) -> None:
        self.stopping.set()


@asynccontextmanager
async def leadership(db, stopping: asyncio.Event):
    """Yields leading() -> bool. SQLite: always (one writer anyway). PostgreSQL: pg_try_advisory_lock
    held on a dedicated connection; the connection is checked every LEADERSHIP_CHECK seconds, and a
    lost connection (server restart) drops leadership until the lock is taken again."""
    if db.is_sqlite:
        yield lambda: True
        return
    lock = _AdvisoryLock(create_async_engine(async_url(db.url), pool_size=1, max_overflow=0))
    await lock.check()
    task = asyncio.create_task(_keep_checking(lock, stopping))
    try:
        yield lambda: lock.held
    finally:
        task.cancel()
        await lock.release()


LEADERSHIP_CHECK = 2.0


class _AdvisoryLock:
    """The scheduler's PostgreSQL advisory lock on its own connection."""

    def __init__(self, engine):
        self.engine = engine
        self.conn = None
        self.held = False

    async def check(self) -> None:
        try:
            if self.conn is None:
                self.conn = await self.engine.connect()
            query = "SELECT 1" if self.held else f"SELECT pg_try_advisory_lock({ADVISORY_LOCK_KEY})"
            self.held = bool((await self.conn.execute(sa.text(query))).scalar())
            await self.conn.commit()
        except Exception:  # noqa: BLE001 - a dead connection means the lock is gone
            log.warning("scheduler lock connection lost", extra={"action": "scheduler_lock_lost"})
            self.held = False
            await self._drop_connection()

    async def _drop_connection(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None:
            with contextlib.suppress(Exception):  # the connection may already be gone
                await conn.invalidate()

    async def release(self) -> None:
        await self._drop_connection()
        await self.engine.dispose()


async def _keep_checking(lock: _AdvisoryLock, stopping: asyncio.Event) -> None:
    while not stopping.is_set():
        await asyncio.sleep(LEADERSHIP_CHECK)
        await lock.check()


def scheduler_part(container):
    """The scheduler duty (sendhouse.roles.DUTIES)."""
    return running(Scheduler(container), grace=30)
