"""The stop fence under the faults clocks and timing margins cannot survive, with `sendhouse worker`
as a real process on SQLite and PostgreSQL and the abort sent through the HTTP API:

- a worker whose clock is minutes behind or ahead (libfaketime): 0 MAIL FROM after the abort response;
- a worker frozen with SIGSTOP mid-send (its admitted messages not yet written), continued later
  while the abort waits: 0 MAIL FROM after the abort response.

The SMTP server runs in this process and stamps every MAIL FROM with this process's monotonic clock.
"""

from __future__ import annotations

import asyncio
import glob
import json
import os
import signal
import time
from datetime import datetime, timedelta

import pytest

from sendhouse.domain.times import utcnow
from tests.support.sending_data import (
    campaign_row,
    container_for,
    ledger_counts,
    spawn_worker,
    start_campaign,
    stop_worker,
    wait_for,
)
from tests.support.smtp_sink import SmtpSink

SIZE = 4000
FAKETIME = sorted(glob.glob("/usr/lib/*/faketime/libfaketime.so.1"))


async def _received(sink, n):
    return len(sink.messages) >= n


async def _nothing_leased(container, cid):
    return (await ledger_counts(container.db, cid))["sending"] == 0


def _worker_log_time(proc) -> datetime:
    """The time stamp of the worker's latest JSON log line: its own clock's idea of now."""
    for line in reversed(proc.stderr_tail):
        if line.startswith("{"):
            return datetime.fromisoformat(json.loads(line)["ts"])
    raise AssertionError("the worker logged nothing")


async def _abort(api, tenant, cid) -> tuple[int, float]:
    response = await api.client.post(f"/v1/campaigns/{cid}/abort", headers=tenant.headers)
    return response.status_code, time.monotonic()


async def _finish(container, cid, sink, answered: float, proc) -> None:
    await wait_for(lambda: _nothing_leased(container, cid))
    assert stop_worker(proc) == 0, "".join(proc.stderr_tail)[-2000:]
    late = [t for t in sink.mail_from_times() if t > answered]
    counts = await ledger_counts(container.db, cid)
    assert late == [], f"{len(late)} MAIL FROM after the abort response"
    assert (await campaign_row(container.db, cid))["status"] == "aborted"
    assert counts["sent"] == len(sink.messages) < SIZE and counts["cancelled"] > 0


@pytest.mark.skipif(not FAKETIME, reason="libfaketime (Debian package faketime) is not installed")
@pytest.mark.parametrize("shift", ["-5m", "+5m"])
async def test_abort_with_a_worker_whose_clock_is_minutes_off(api, tenant, settings, shift, db_kind):
    if db_kind == "sqlite" and shift.startswith("-"):
        pytest.skip(
            "SQLite is one host with one clock: a worker set minutes behind it finds no row due yet "
            "(on PostgreSQL workers take the server's clock)"
        )
    with SmtpSink(data_delay=0.002) as sink:
        container = container_for(settings, smtp_url=sink.url)
        cid = await start_campaign(container.db, tenant.project_id, SIZE)
        proc = spawn_worker(
            settings,
            sink.url,
            SENDHOUSE_SMTP_CONNECTIONS=10,
            LD_PRELOAD=FAKETIME[0],
            FAKETIME=shift,
            FAKETIME_NO_CACHE="1",
        )
        try:
            await wait_for(lambda: _received(sink, 400), timeout=90)
            assert abs(_worker_log_time(proc) - utcnow()) > timedelta(
                minutes=4
            )  # it really lives in another time
            status, answered = await _abort(api, tenant, cid)
            assert status == 200
            await _finish(container, cid, sink, answered, proc)
        finally:
            stop_worker(proc)
            await container.close()


async def test_abort_while_the_worker_is_frozen_mid_send(api, tenant, settings):
    with SmtpSink(data_delay=0.002) as sink:
        container = container_for(settings, smtp_url=sink.url)
        cid = await start_campaign(container.db, tenant.project_id, SIZE)
        proc = spawn_worker(settings, sink.url, SENDHOUSE_SMTP_CONNECTIONS=10)
        try:
            await wait_for(lambda: _received(sink, 400), timeout=90)
            os.kill(proc.pid, signal.SIGSTOP)
            aborting = asyncio.create_task(_abort(api, tenant, cid))
            await asyncio.sleep(0.5)  # what was already in the socket buffers arrives
            frozen_at = len(sink.messages)
            await asyncio.sleep(1.0)
            assert len(sink.messages) == frozen_at  # it really is frozen
            os.kill(proc.pid, signal.SIGCONT)
            status, answered = await aborting
            assert status == 200
            await _finish(container, cid, sink, answered, proc)
        finally:
            os.kill(proc.pid, signal.SIGCONT) if proc.poll() is None else None
            stop_worker(proc)
            await container.close()
