"""The send-rate token bucket shared by every worker (SENDHOUSE_SEND_RATE, a kv_state row) on
SQLite and PostgreSQL, with frozen clocks advanced by hand: two workers (two database handles, as
two processes have) together are granted exactly burst + rate × elapsed tokens, and a campaign sent
by two real workers at a limited rate delivers exactly that many messages, nothing more and nothing
less, while its other rows wait. (An earlier two-worker test never reached its count because refills
such as 0.29 s × 100/s truncated to 28 tokens, and because it jumped the clock past the burst, which
no bucket refills beyond.)"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from sendhouse.services import projects as project_service
from sendhouse.store import kv
from sendhouse.store.schema.campaigns import messages
from tests.support.sending_data import container_for, ledger_counts, running, start_campaign, wait_for
from tests.support.smtp_sink import SmtpSink

KEY = "send_rate:test"


class FrozenClock:
    """A clock that only moves when told to."""

    def __init__(self, at: datetime):
        self.at = at

    def __call__(self) -> datetime:
        return self.at

    def advance(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)


async def _take(db, clock: FrozenClock, want: int, *, rate: float, burst: float) -> int:
    async with db.write() as conn:
        return await kv.take_tokens(conn, KEY, want, rate=rate, burst=burst, now=clock())


async def _drain(dbs, clock: FrozenClock, *, rate: float, burst: float) -> int:
    """Both handles ask for small amounts at the same time until neither gets anything."""
    total = 0
    while True:
        got = await asyncio.gather(
            *(_take(db, clock, want, rate=rate, burst=burst) for db in dbs for want in (3, 7))
        )
        total += sum(got)
        if not any(got):
            return total


async def test_two_handles_share_exactly_burst_plus_refill_tokens(settings):
    # steps whose products with the rate are not exact in binary floating point (0.29 × 100)
    steps, rate, burst = [0.29, 0.07, 0.11, 0.53, 0.29, 0.71], 100.0, 100.0
    first, second = container_for(settings), container_for(settings)
    clock = FrozenClock(datetime(2030, 1, 1, tzinfo=UTC))
    try:
        granted = [await _drain([first.db, second.db], clock, rate=rate, burst=burst)]
        for step in steps:
            clock.advance(step)
            granted.append(await _drain([first.db, second.db], clock, rate=rate, burst=burst))
    finally:
        await first.close()
        await second.close()
    assert granted == [100, 29, 7, 11, 53, 29, 71]  # the first version of the bucket gave 28 for 0.29 s
    assert sum(granted) == burst + round(rate * sum(steps))


async def test_refill_stops_at_the_burst_and_unused_tokens_come_back(container):
    clock = FrozenClock(datetime(2030, 1, 1, tzinfo=UTC))
    db = container.db
    assert await _take(db, clock, 500, rate=10, burst=20) == 20
    clock.advance(60)  # 600 tokens' worth of time, but the bucket holds 20
    assert await _take(db, clock, 15, rate=10, burst=20) == 15
    async with db.write() as conn:
        await kv.give_back(conn, KEY, 12, burst=20)  # 5 left + 12 back
    assert await _take(db, clock, 500, rate=10, burst=20) == 17
    assert await _take(db, clock, 500, rate=10, burst=20) == 0


async def test_two_workers_at_a_limited_rate_send_exactly_burst_plus_refill(settings):
    rate, size = 40, 300
    with SmtpSink() as sink:
        first = container_for(settings, smtp_url=sink.url, send_rate=rate, smtp_connections=4)
        second = container_for(settings, smtp_url=sink.url, send_rate=rate, smtp_connections=4)
        try:
            project = await project_service.create_project(first.db, name="rate")
            cid = await start_campaign(first.db, project["id"], size)
            clock = FrozenClock(datetime.now(UTC) + timedelta(seconds=1))
            async with (
                running(first, scheduler=False, clock=clock, worker_id="w1"),
                running(second, scheduler=False, clock=clock, worker_id="w2"),
            ):
                await wait_for(lambda: _settled(first, cid, rate))
                for step in range(
                    1, 4
                ):  # 0.5 s: 20 tokens each time (a bigger jump would overflow the burst)
                    clock.advance(0.5)
                    await wait_for(lambda step=step: _settled(first, cid, rate + 20 * step))
            counts = await ledger_counts(first.db, cid)
            async with first.db.read() as conn:
                sent = set(
                    (
                        await conn.execute(
                            sa.select(messages.c.email).where(
                                messages.c.campaign_id == cid, messages.c.status == "sent"
                            )
                        )
                    ).scalars()
                )
        finally:
            await first.close()
            await second.close()
    assert counts["sent"] == rate + 60 and counts["queued"] == size - rate - 60 and counts["sending"] == 0
    assert sink.recipients() == dict.fromkeys(sent, 1)


async def _settled(container, cid: str, sent: int) -> bool:
    counts = await ledger_counts(container.db, cid)
    return counts["sent"] == sent and counts["sending"] == 0
