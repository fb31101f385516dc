"""The stop fence and worker liveness on locks (store/fence.py), on SQLite and PostgreSQL:
pause/abort wait for every worker hold taken before their commit, a hold taken after it reads
the new status, dead workers' leases come back (with the duties' grace: once also unrenewed for
dead_grace seconds), live workers' never for lack of renewal, nor those of a worker of the
housekeeping's own process, and abortedAt/pausedAt are stamped once the campaign is locked."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from datetime import timedelta

import sqlalchemy as sa

from sendhouse.domain.times import utcnow
from sendhouse.housekeeping import Housekeeper
from sendhouse.runtime import local_worker, local_workers
from sendhouse.services import campaigns as campaign_service
from sendhouse.services import sending
from sendhouse.store import ledger
from sendhouse.store.schema.campaigns import campaigns, messages
from tests.support.sending_data import campaign_row, ledger_counts, start_campaign


async def _set_status(db, cid: str, status: str) -> None:
    async with db.write() as conn:
        await conn.execute(campaigns.update().where(campaigns.c.id == cid).values(status=status))


async def test_close_waits_for_a_hold_taken_before_the_commit(container, tenant):
    db = container.db
    cid = await start_campaign(db, tenant.project_id, 3)
    session = db.fence.session("worker-a")
    await session.start()
    try:
        assert await session.cycle([cid]) == {cid: "sending"}  # held, read as sending
        await _set_status(db, cid, "paused")  # the commit of a pause
        closing = asyncio.create_task(db.fence.close(cid))
        await asyncio.sleep(0.3)
        assert not closing.done()  # the worker may still admit under its hold: the stopper waits
        again = await session.cycle([cid])  # the worker lets go and tries again
        assert again.get(cid, "paused") == "paused"  # held and read as paused, or not held at all
        assert await asyncio.wait_for(closing, 10) is True
        assert await session.cycle([cid]) == {cid: "paused"}  # a later hold reads the new status
    finally:
        await session.stop()


async def test_close_does_not_wait_for_a_worker_that_let_go(container, tenant):
    db = container.db
    cid = await start_campaign(db, tenant.project_id, 3)
    session = db.fence.session("worker-b")
    await session.start()
    try:
        await session.cycle([cid])
        await session.cycle([])  # the campaign left the worker's hands
        assert await asyncio.wait_for(db.fence.close(cid), 10) is True
    finally:
        await session.stop()


async def test_close_gives_up_after_its_timeout_and_says_so(container, tenant):
    db = container.db
    cid = await start_campaign(db, tenant.project_id, 3)
    session = db.fence.session("frozen")
    await session.start()
    timeout, db.fence.timeout = db.fence.timeout, 0.5
    try:
        await session.cycle([cid])
        assert await db.fence.close(cid) is False  # a frozen holder: the stopper answers, late
    finally:
        db.fence.timeout = timeout
        await session.stop()


async def test_dead_owners_are_those_without_their_liveness_lock(container):
    db = container.db
    alive, gone = db.fence.session("alive"), db.fence.session("gone")
    await alive.start()
    await gone.start()
    await gone.stop()
    try:
        assert await db.fence.dead_owners({"alive", "gone", "never-seen"}) == {"gone", "never-seen"}
    finally:
        await alive.stop()
    assert await db.fence.dead_owners({"alive"}) == {"alive"}


async def _lease(db, worker: str, n: int, lease_seconds: float) -> list[str]:
    async with db.write() as conn:
        rows = await ledger.claim(conn, worker=worker, limit=n, now=utcnow(), lease_seconds=lease_seconds)
    return [row["id"] for row in rows]


async def _statuses(db, row_ids: list[str]) -> set[str]:
    async with db.read() as conn:
        found = await conn.execute(sa.select(messages.c.status).where(messages.c.id.in_(row_ids)))
        return set(found.scalars())


async def test_housekeeping_takes_back_dead_workers_leases_at_once_and_live_ones_never_early(
    container, tenant
):
    db = container.db
    await start_campaign(db, tenant.project_id, 6)
    live = db.fence.session("live-worker")
    await live.start()
    try:
        live_rows = await _lease(db, "live-worker", 3, lease_seconds=0.01)  # its lease has run out
        dead_rows = await _lease(db, "crashed-worker", 3, lease_seconds=3600)  # lease still valid
        await asyncio.sleep(0.05)
        assert await sending.housekeep(db, utcnow(), orphan_after=3600) == (3, 0)
        assert await _statuses(db, dead_rows) == {"queued"}
        assert await _statuses(db, live_rows) == {"sending"}  # an outage stopped its renewals: kept
        later = utcnow() + timedelta(seconds=7200)  # ... unless it lost track of them for long
        assert await sending.housekeep(db, later, orphan_after=3600) == (3, 0)
        assert await _statuses(db, live_rows) == {"queued"}
    finally:
        await live.stop()


async def _lease_at(db, worker: str, n: int, lease_seconds: float, now) -> list[str]:
    async with db.write() as conn:
        rows = await ledger.claim(conn, worker=worker, limit=n, now=now, lease_seconds=lease_seconds)
    return [row["id"] for row in rows]


async def test_housekeeping_keeps_the_leases_of_this_process_workers_whose_session_is_cut(container, tenant):
    """A worker whose database session was cut (its liveness lock free until it reconnects) looks
    dead from outside; the housekeeping of its own process knows better (runtime.local_worker)."""
    db, lease = container.db, container.settings.lease_seconds
    await start_campaign(db, tenant.project_id, 6)
    silent = sending.dead_grace(lease) + 5  # renewed that many seconds ago: past the grace
    cut_rows = await _lease_at(db, "cut-worker", 3, lease - silent, utcnow())  # no session: as if cut
    with local_worker("cut-worker"):
        assert await Housekeeper(container).sweep() == (0, 0)
        assert await sending.housekeep(db, utcnow(), mine=local_workers()) == (0, 0)
    assert await _statuses(db, cut_rows) == {"sending"}
    assert await Housekeeper(container).sweep() == (3, 0)  # the worker is gone from this process too
    assert await _statuses(db, cut_rows) == {"queued"}


async def test_a_worker_without_its_lock_keeps_rows_it_renewed_within_the_grace(container, tenant):
    """Another process's housekeeping takes a lock-less worker's rows only once it has not renewed
    them for dead_grace() seconds: a cut session that comes back in time loses nothing."""
    db, lease = container.db, container.settings.lease_seconds
    grace = sending.dead_grace(lease)
    await start_campaign(db, tenant.project_id, 6)
    renewed_now = await _lease_at(db, "cut-worker", 3, lease, utcnow())
    assert await Housekeeper(container).sweep() == (0, 0)
    assert await _statuses(db, renewed_now) == {"sending"}
    later = utcnow() + timedelta(seconds=grace + 1)  # it stayed silent past the grace: dead
    assert await sending.housekeep(db, later, quiet=(grace, lease)) == (3, 0)
    assert await _statuses(db, renewed_now) == {"queued"}


def _hold_lock(db_url: str, cid: str, seconds: float, held: threading.Event) -> float:
    """Another client locks the campaign (SQLite: the database) for `seconds`; when it let go."""
    if db_url.startswith("sqlite"):
        conn = sqlite3.connect(db_url.removeprefix("sqlite:///"), isolation_level=None, timeout=60)
        conn.execute("BEGIN IMMEDIATE")
    else:
        engine = sa.create_engine(db_url.replace("postgresql://", "postgresql+psycopg://"))
        conn = engine.connect()
        conn.execute(sa.text("SELECT id FROM campaigns WHERE id = :id FOR UPDATE"), {"id": cid})
    held.set()
    time.sleep(seconds)
    released = utcnow()
    conn.rollback() if not db_url.startswith("sqlite") else conn.execute("ROLLBACK")
    conn.close()
    return released


async def test_aborted_at_is_stamped_once_the_campaign_is_locked(container, tenant, settings):
    db = container.db
    cid = await start_campaign(db, tenant.project_id, 3)
    held = threading.Event()
    holder = asyncio.create_task(
        asyncio.to_thread(_hold_lock, settings.resolved_database_url(), cid, 1.0, held)
    )
    await asyncio.to_thread(held.wait, 10)
    await campaign_service.abort_campaign(db, tenant.project_id, cid)
    released = await holder
    row = await campaign_row(db, cid)
    assert row["status"] == "aborted" and row["aborted_at"] >= released
    assert (await ledger_counts(db, cid))["cancelled"] == 3


async def test_paused_at_is_stamped_once_the_campaign_is_locked(container, tenant, settings):
    db = container.db
    cid = await start_campaign(db, tenant.project_id, 3)
    held = threading.Event()
    holder = asyncio.create_task(
        asyncio.to_thread(_hold_lock, settings.resolved_database_url(), cid, 1.0, held)
    )
    await asyncio.to_thread(held.wait, 10)
    await campaign_service.pause_campaign(db, tenant.project_id, cid)
    released = await holder
    row = await campaign_row(db, cid)
    assert row["status"] == "paused" and row["paused_at"] >= released


async def test_close_is_not_starved_by_a_worker_sending_a_campaign_of_the_same_slot(
    container, tenant, monkeypatch
):
    """SQLite: with one lock slot for every campaign, a worker re-taking the slot every few
    milliseconds for another campaign that keeps sending does not hold the stopper up (the gate);
    PostgreSQL: the two campaigns' locks are apart, and the same holds."""
    from sendhouse.store import fence as fence_module

    monkeypatch.setattr(fence_module, "SLOTS", 1)
    db = container.db
    stopped = await start_campaign(db, tenant.project_id, 3)
    busy = await start_campaign(db, tenant.project_id, 3, prefix="other")
    session = db.fence.session("worker-busy")
    await session.start()
    running = True

    async def keep_cycling():
        while running:
            await session.cycle([busy])
            await asyncio.sleep(0.005)

    cycling = asyncio.create_task(keep_cycling())
    try:
        await asyncio.sleep(0.05)
        await _set_status(db, stopped, "paused")
        assert await asyncio.wait_for(db.fence.close(stopped), 5) is True
        assert (await session.cycle([busy]))[busy] == "sending"  # the other campaign carries on
    finally:
        running = False
        await cycling
        await session.stop()
