"""Crash safety with real processes: `sendhouse worker` is SIGKILLed at random moments during a
4,000-recipient campaign and restarted, on SQLite and PostgreSQL; nobody is missed, and each kill
re-sends at most 2 × SMTP connections messages (those the relay accepted that were not recorded
yet), carrying their row's Message-ID. Three workers sharing one campaign on PostgreSQL send no
duplicate. Either way the campaign's counters equal a recount of its ledger at the end."""

from __future__ import annotations

import random
import subprocess
from collections import Counter

import pytest
import sqlalchemy as sa

from sendhouse.services import projects as project_service
from sendhouse.store import counters
from sendhouse.store.schema.campaigns import messages
from tests.support.sending_data import (
    campaign_row,
    container_for,
    spawn_worker,
    start_campaign,
    stop_worker,
    wait_for,
)
from tests.support.smtp_sink import SmtpSink

KILLS = 5
RECIPIENTS = 4000  # five kills at 200 to 650 messages apart leave a tail sent without a kill
CONNECTIONS = 8
PER_KILL = 2 * CONNECTIONS  # accepted-but-unrecorded messages a worker can have at any instant
SHARED = 2000  # recipients of the campaign three workers share


def _spawn(settings, sink, *, scheduler: bool = True, lease: float = 2) -> subprocess.Popen:
    return spawn_worker(
        settings,
        sink.url,
        scheduler=scheduler,
        SENDHOUSE_LEASE_SECONDS=lease,
        SENDHOUSE_SMTP_CONNECTIONS=CONNECTIONS,
    )


async def _ledger(container, cid) -> dict[str, tuple[str, str]]:
    async with container.db.read() as conn:
        rows = await conn.execute(
            sa.select(messages.c.email, messages.c.status, messages.c.message_id_header).where(
                messages.c.campaign_id == cid
            )
        )
        return {r.email: (r.status, r.message_id_header) for r in rows}


async def _counters(container, cid) -> tuple[dict, dict]:
    """(the campaign's counters, a recount of its ledger and events)."""
    async with container.db.read() as conn:
        return (await counters.read(conn, [cid]))[cid], (await counters.recount(conn, [cid]))[cid]


async def _sent(container, cid) -> bool:
    return (await campaign_row(container.db, cid))["status"] == "sent"


async def _received(sink, n) -> bool:
    return len(sink.messages) >= n


async def test_sigkilled_workers_miss_nobody_and_duplicate_only_in_flight_mail(settings):
    rng = random.Random()
    with SmtpSink() as sink:
        container = container_for(settings)
        try:
            project = await project_service.create_project(container.db, name="crash")
            cid = await start_campaign(container.db, project["id"], RECIPIENTS)
            for _ in range(KILLS):
                target = len(sink.messages) + rng.randint(200, 650)
                proc = _spawn(settings, sink)
                try:
                    await wait_for(lambda target=target: _received(sink, target), timeout=120)
                finally:
                    proc.kill()
                    proc.wait(timeout=10)
            proc = _spawn(settings, sink)
            try:
                await wait_for(lambda: _sent(container, cid), timeout=240, every=0.2)
            finally:
                stop_worker(proc)
            ledger = await _ledger(container, cid)
            kept, truth = await _counters(container, cid)
        finally:
            await container.close()
    assert kept == truth and kept["ledger_sent"] == kept["ledger_rows"] == RECIPIENTS
    copies = sink.recipients()
    assert {status for status, _ in ledger.values()} == {"sent"} and len(ledger) == RECIPIENTS
    assert set(copies) == set(ledger)  # nobody missed, nobody unknown
    extra = sum(n - 1 for n in copies.values())
    print(f"duplicates: {extra} in {KILLS} kills ({extra / KILLS:.1f} per kill, bound {PER_KILL})")
    assert extra <= KILLS * PER_KILL
    for message in sink.messages:
        assert message.message_id == ledger[message.rcpt_to[0]][1]


async def test_three_workers_on_postgres_share_a_campaign_without_duplicates(db_kind, settings):
    if db_kind != "postgres":
        pytest.skip("many worker processes on one database is the PostgreSQL deployment")
    with SmtpSink() as sink:
        container = container_for(settings)
        try:
            project = await project_service.create_project(container.db, name="three")
            cid = await start_campaign(container.db, project["id"], SHARED)
            # nobody is killed here: leases long enough that a worker slowed down by a loaded machine
            # keeps its rows (an expired lease is the one legitimate source of a second copy)
            procs = [_spawn(settings, sink, scheduler=(i == 0), lease=30) for i in range(3)]
            try:
                await wait_for(lambda: _sent(container, cid), timeout=90, every=0.2)
            finally:
                codes = [stop_worker(proc) for proc in procs]
            ledger = await _ledger(container, cid)
            kept, truth = await _counters(container, cid)
        finally:
            await container.close()
    assert kept == truth and kept["ledger_sent"] == SHARED
    assert {status for status, _ in ledger.values()} == {"sent"}
    assert sink.recipients() == Counter(dict.fromkeys(ledger, 1))
    assert codes == [0, 0, 0], ["".join(p.stderr_tail)[-2000:] for p in procs]  # SIGTERM stops each one
