"""The scheduler (scheduler.py) with an injected clock, on SQLite and PostgreSQL: sendNow delay,
scheduledAt with an offset, the stale-schedule guard, gradual daily batches in the campaign's
timezone, the 14-day paused auto-abort, finishing, and one leader among schedulers on PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone

import pytest

from sendhouse.domain.times import utcnow
from sendhouse.scheduler import Scheduler, gradual_allowance, leadership
from sendhouse.services import campaigns as campaign_service
from sendhouse.services import projects as project_service
from sendhouse.store import ledger
from sendhouse.store.schema.campaigns import campaigns, messages
from tests.support.sending_data import HTML, campaign_row, ledger_counts, seed_list


async def _campaign(container, size: int = 5, *, delay: int = 120, **fields) -> str:
    project_id = (await project_service.create_project(container.db, name="sched"))["id"]
    list_id = await seed_list(container.db, project_id, size)
    body = {
        "name": "Launch",
        "subject": "Hello",
        "htmlTemplate": HTML,
        "from": {"email": "news@example.com"},
        "toLists": [list_id],
        **fields,
    }
    return (await campaign_service.create_campaign(container.db, project_id, body, send_now_delay=delay))[
        "id"
    ]


async def _set(container, cid: str, **values) -> None:
    async with container.db.write() as conn:
        await conn.execute(campaigns.update().where(campaigns.c.id == cid).values(**values))


async def _claimable(container, cid: str, now) -> int:
    async with container.db.write() as conn:
        rows = await ledger.claim(conn, worker="probe", limit=10_000, now=now, lease_seconds=60)
        await ledger.release(conn, [r["id"] for r in rows], status="queued", now=now, worker="probe")
    return sum(1 for r in rows if r["campaign_id"] == cid)


async def test_send_now_starts_after_the_delay(container):
    before = utcnow()
    cid = await _campaign(container, sendNow=True)
    row = await campaign_row(container.db, cid)
    assert row["status"] == "scheduled" and row["scheduled_at"] >= before + timedelta(seconds=120)
    scheduler = Scheduler(container)
    assert (await scheduler.tick(row["scheduled_at"] - timedelta(seconds=1)))["started"] == []
    assert (await scheduler.tick(row["scheduled_at"]))["started"] == [cid]
    assert (await campaign_row(container.db, cid))["status"] == "sending"
    assert (await ledger_counts(container.db, cid)) == {"queued": 5}


async def test_scheduled_at_with_an_offset_fires_at_that_instant(container):
    local = datetime.now(timezone(timedelta(hours=-5))).replace(microsecond=0) + timedelta(hours=3)
    cid = await _campaign(container, scheduledAt=local.isoformat())
    due = (await campaign_row(container.db, cid))["scheduled_at"]
    assert due == local.astimezone(UTC)
    scheduler = Scheduler(container)
    assert (await scheduler.tick(due - timedelta(seconds=1)))["started"] == []
    assert (await scheduler.tick(due + timedelta(seconds=1)))["started"] == [cid]


async def test_a_schedule_missed_too_long_ago_pauses_with_a_reason(container):
    cid = await _campaign(container, sendNow=True)
    due = (await campaign_row(container.db, cid))["scheduled_at"]
    late = due + timedelta(seconds=container.settings.stale_schedule_after + 60)
    assert (await Scheduler(container).tick(late))["stale"] == [cid]
    row = await campaign_row(container.db, cid)
    assert row["status"] == "paused" and "missed" in row["paused_reason"]
    assert (await ledger_counts(container.db, cid)) == {}


async def test_gradual_campaign_releases_growing_daily_batches_in_its_timezone(container):
    cid = await _campaign(
        container,
        100,
        sendNow=True,
        sendMode="gradual",
        gradualStrategy="2x",
        dailyBatchSize=10,
        timezone="America/New_York",
    )
    start = datetime(2030, 3, 12, 3, 30, tzinfo=UTC)  # 23:30 on the 11th in New York
    await _set(container, cid, scheduled_at=start - timedelta(minutes=1))
    scheduler = Scheduler(container)
    assert (await scheduler.tick(start))["started"] == [cid]
    assert (await campaign_row(container.db, cid))["status"] == "sending_gradual"
    assert await _claimable(container, cid, start) == 10
    await scheduler.tick(start + timedelta(minutes=20))  # same local day: nothing more
    assert await _claimable(container, cid, start + timedelta(minutes=20)) == 10
    next_day = start + timedelta(hours=1)  # 00:30 on the 12th in New York (same UTC date)
    await scheduler.tick(next_day)
    assert await _claimable(container, cid, next_day) == 30  # 10 + 20
    assert (await ledger_counts(container.db, cid)) == {"queued": 100}


def test_gradual_allowance_is_the_sum_of_each_days_batch():
    start = datetime(2030, 1, 1, 12, tzinfo=UTC)
    assert [gradual_allowance(start, start + timedelta(days=d), "UTC", 100, "1.5x") for d in range(4)] == [
        100,
        250,
        475,
        813,
    ]
    assert gradual_allowance(start, start + timedelta(days=9), "UTC", 7, "fixed") == 70
    assert gradual_allowance(start, start - timedelta(days=1), "UTC", 7, "fixed") == 0


async def test_a_campaign_paused_for_14_days_is_aborted(container):
    cid = await _campaign(container, sendNow=True, delay=0)
    scheduler = Scheduler(container)
    now = utcnow() + timedelta(seconds=1)
    await scheduler.tick(now)
    row = await campaign_row(container.db, cid)
    await campaign_service.pause_campaign(container.db, row["project_id"], cid)
    paused_at = (await campaign_row(container.db, cid))["paused_at"]
    assert (await scheduler.tick(paused_at + timedelta(days=13, hours=23)))["aborted"] == []
    assert (await scheduler.tick(paused_at + timedelta(days=14, seconds=1)))["aborted"] == [cid]
    assert (await campaign_row(container.db, cid))["status"] == "aborted"
    assert (await ledger_counts(container.db, cid)) == {"cancelled": 5}


async def test_a_campaign_with_nothing_pending_is_finished(container):
    cid = await _campaign(container, sendNow=True, delay=0)
    scheduler = Scheduler(container)
    now = utcnow() + timedelta(seconds=1)
    await scheduler.tick(now)
    async with container.db.write() as conn:
        await conn.execute(
            messages.update()
            .where(messages.c.campaign_id == cid, messages.c.email != "user0@example.com")
            .values(status="sent", sent_at=now)
        )
    assert (await scheduler.tick(now))["finished"] == []
    async with container.db.write() as conn:
        await conn.execute(messages.update().where(messages.c.campaign_id == cid).values(status="failed"))
    assert (await scheduler.tick(now))["finished"] == [cid]
    row = await campaign_row(container.db, cid)
    assert row["status"] == "sent" and row["sent_at"] is not None


async def test_exactly_one_scheduler_leads_on_postgres(container, db_kind):
    if db_kind != "postgres":
        pytest.skip("SQLite has one writer anyway: every scheduler leads")
    stop_a, stop_b = asyncio.Event(), asyncio.Event()
    async with leadership(container.db, stop_a) as first, leadership(container.db, stop_b) as second:
        assert (first(), second()) == (True, False)
        stop_a.set()
        # second exited too; a third takes over once the first lets go
    async with leadership(container.db, asyncio.Event()) as third:
        assert third()
