"""Fault suite, database side, with `sendhouse worker` as a real process sending 2,000 recipients:

- PostgreSQL stopped for a few seconds in the middle of the campaign and started again
  (pg_ctlcluster, only when the test server is this machine's): the worker reconnects (or, if it
  died, is restarted as a supervisor would), the campaign completes, every recipient gets the mail,
  and the only second copies are of messages whose 250 could not be recorded during the outage,
  with their row's Message-ID (DESIGN §1);
- PostgreSQL connections cut again and again for a few seconds (pg_terminate_backend on every
  session of the database, as a failover or a proxy restart does): the worker's outcome writes
  and lease renewals fail, it keeps what it has in hand, reconnects and writes it, and every
  recipient gets exactly one copy;
- SQLite locked by another connection (BEGIN IMMEDIATE) for longer than the worker's lease and
  its busy timeout, so outcome writes and lease renewals fail: nothing is committed while the lock
  is held, the accepted outcomes stay in hand and are written once the lock goes, and every
  recipient gets exactly one copy.
"""

from __future__ import annotations

import asyncio
import glob
import os
import shutil
import sqlite3
import subprocess
import threading
import time
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

from sendhouse.services import projects as project_service
from sendhouse.store.db import sync_url
from sendhouse.store.schema.campaigns import messages
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

SIZE = 2000
CONNECTIONS = 8
IN_FLIGHT = 2 * CONNECTIONS * 25  # lanes × batch size: rows one worker can hold between claim and record
OUTAGE = 3.0
LOCK_HELD = 8.0  # longer than the lease (3 s) and the busy timeout (1 s) of the locked-out worker


def _cluster() -> tuple[str, str] | None:
    """(version, name) of the local cluster serving SENDHOUSE_TEST_POSTGRES_URL, or None."""
    url = os.environ.get("SENDHOUSE_TEST_POSTGRES_URL", "")
    versions = sorted(os.path.basename(os.path.dirname(p)) for p in glob.glob("/etc/postgresql/*/main"))
    if urlsplit(url).hostname != "127.0.0.1" or not shutil.which("pg_ctlcluster") or not versions:
        return None
    return versions[-1], "main"


def _pg(action: str, cluster: tuple[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", *cluster, action],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )


def _ensure_running(cluster: tuple[str, str]) -> None:
    """Whatever happened, leave the shared server up."""
    if _pg("status", cluster).returncode != 0:
        _pg("start", cluster)


async def _tolerant(predicate):
    """The predicate, with a database that is down counting as 'not yet'."""
    try:
        return await predicate()
    except (sa.exc.DBAPIError, OSError):
        return False


async def _sent(container, cid) -> bool:
    return (await campaign_row(container.db, cid))["status"] == "sent"


async def _received(sink, n) -> bool:
    return len(sink.messages) >= n


async def _ledger(db, cid) -> dict[str, tuple[str, str]]:
    async with db.read() as conn:
        rows = await conn.execute(
            sa.select(messages.c.email, messages.c.status, messages.c.message_id_header).where(
                messages.c.campaign_id == cid
            )
        )
        return {r.email: (r.status, r.message_id_header) for r in rows}


class _Worker:
    """A `sendhouse worker` process (spawn_worker reads its stderr continuously)."""

    def __init__(self, settings, sink, **env):
        env = {"SENDHOUSE_LEASE_SECONDS": 10, **env}
        self.proc = spawn_worker(settings, sink.url, SENDHOUSE_SMTP_CONNECTIONS=CONNECTIONS, **env)

    @property
    def retried_writes(self) -> int:
        return self.proc.retried_writes

    def poll(self):
        return self.proc.poll()

    def stop(self) -> int:
        return stop_worker(self.proc)

    def log(self) -> str:
        return "".join(self.proc.stderr_tail)[-4000:]


def _spawn(settings, sink, **env) -> _Worker:
    return _Worker(settings, sink, **env)


async def _supervise(settings, sink, container, cid, procs: list, deadline: float) -> None:
    """Wait for the campaign to finish, restarting the worker whenever it exits (at most 5 times)."""
    while not await _tolerant(lambda: _sent(container, cid)):
        assert time.monotonic() < deadline, "campaign did not finish"
        if procs[-1].poll() is not None:
            assert len(procs) < 6, procs[-1].log()
            procs.append(_spawn(settings, sink))
        await asyncio.sleep(0.25)


def _assert_delivered(sink, ledger: dict, *, extra_allowed: int) -> None:
    copies = sink.recipients()
    assert len(ledger) == SIZE and {status for status, _ in ledger.values()} == {"sent"}
    assert set(copies) == set(ledger)  # nobody missed, nobody unknown
    assert sum(n - 1 for n in copies.values()) <= extra_allowed, copies.most_common(3)
    for message in sink.messages:
        assert message.message_id == ledger[message.rcpt_to[0]][1]


@pytest.mark.serial  # restarts the shared PostgreSQL server: nothing else may run meanwhile
async def test_postgres_restart_mid_campaign_loses_nobody(db_kind, settings):
    cluster = _cluster()
    if db_kind != "postgres" or cluster is None:
        pytest.skip("needs the PostgreSQL test server on 127.0.0.1 and pg_ctlcluster")
    with SmtpSink(data_delay=0.002) as sink:
        container = container_for(settings)
        procs = []
        try:
            project = await project_service.create_project(container.db, name="pg-restart")
            cid = await start_campaign(container.db, project["id"], SIZE)
            procs.append(_spawn(settings, sink))
            await wait_for(lambda: _received(sink, 600), timeout=90)
            try:
                assert _pg("stop", cluster).returncode == 0
                at_stop = len(sink.messages)
                await asyncio.sleep(OUTAGE)
            finally:
                assert _pg("start", cluster).returncode == 0
            await _supervise(settings, sink, container, cid, procs, time.monotonic() + 150)
            ledger = await _ledger(container.db, cid)
        finally:
            codes = [proc.stop() for proc in procs]
            _ensure_running(cluster)
            await container.close()
    assert at_stop < SIZE  # the outage really was in the middle of the campaign
    _assert_delivered(sink, ledger, extra_allowed=IN_FLIGHT * len(procs))
    assert codes[-1] == 0, procs[-1].log()


def _cut_connections(url: str, seconds: float) -> int:
    """Terminate every other session of the database every 50 ms for `seconds`; how many were cut."""
    engine = sa.create_engine(sync_url(url), poolclass=sa.NullPool)
    cut, deadline = 0, time.monotonic() + seconds
    try:
        with engine.connect() as conn:
            while time.monotonic() < deadline:
                cut += len(conn.execute(_TERMINATE).all())
                conn.commit()
                time.sleep(0.05)
    finally:
        engine.dispose()
    return cut


_TERMINATE = sa.text(
    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
)


async def test_postgres_connections_cut_mid_campaign_lose_and_repeat_nothing(db_kind, settings):
    if db_kind != "postgres":
        pytest.skip("terminating sessions is PostgreSQL's")
    url = settings.resolved_database_url()
    with SmtpSink(data_delay=0.002) as sink:
        container = container_for(settings)
        try:
            project = await project_service.create_project(container.db, name="cut")
            cid = await start_campaign(container.db, project["id"], SIZE)
            proc = _spawn(settings, sink, SENDHOUSE_LEASE_SECONDS=3)
            try:
                await wait_for(lambda: _received(sink, 600), timeout=90)
                at_cut = len(sink.messages)
                cut = await asyncio.to_thread(_cut_connections, url, OUTAGE)
                await wait_for(lambda: _tolerant(lambda: _sent(container, cid)), timeout=150, every=0.25)
                alive = proc.poll() is None
            finally:
                code = proc.stop()
            ledger = await _ledger(container.db, cid)
        finally:
            await container.close()
    assert at_cut < SIZE and cut > 0  # sessions really were cut in the middle of the campaign
    assert alive, proc.log()  # the worker rode it out: nothing in hand was lost with a process
    _assert_delivered(sink, ledger, extra_allowed=0)
    assert code == 0, proc.log()
    assert proc.retried_writes > 0  # outcome writes really failed and were retried


def _hold_write_lock(path: str, seconds: float, started) -> None:
    """Another connection takes SQLite's write lock and keeps it for `seconds`."""
    conn = sqlite3.connect(path, isolation_level=None, timeout=60)
    try:
        conn.execute("BEGIN IMMEDIATE")
        started.set()
        time.sleep(seconds)
        conn.execute("COMMIT")
    finally:
        conn.close()


async def test_sqlite_write_lock_held_mid_campaign_delays_but_loses_and_repeats_nothing(db_kind, settings):
    if db_kind != "sqlite":
        pytest.skip("the write lock is SQLite's")
    path = settings.resolved_database_url().removeprefix("sqlite:///")
    with SmtpSink(data_delay=0.002) as sink:
        container = container_for(settings)
        try:
            project = await project_service.create_project(container.db, name="locked")
            cid = await start_campaign(container.db, project["id"], SIZE)
            proc = _spawn(settings, sink, SENDHOUSE_LEASE_SECONDS=3, SENDHOUSE_SQLITE_BUSY_TIMEOUT=1)
            try:
                await wait_for(lambda: _received(sink, 600), timeout=90)
                before, during = await _locked_for(container, cid, path)
                await wait_for(lambda: _sent(container, cid), timeout=150, every=0.25)
            finally:
                code = proc.stop()
            ledger = await _ledger(container.db, cid)
        finally:
            await container.close()
    assert before["sent"] == during["sent"] < SIZE  # nothing was committed while the lock was held
    _assert_delivered(sink, ledger, extra_allowed=0)
    assert code == 0, proc.log()
    assert proc.retried_writes > 0  # outcome writes really failed and were retried


async def _locked_for(container, cid, path: str):
    """Hold the write lock for LOCK_HELD seconds; ledger counts when it was taken and just before release."""
    started = threading.Event()
    holder = asyncio.create_task(asyncio.to_thread(_hold_write_lock, path, LOCK_HELD, started))
    await asyncio.to_thread(started.wait, 30)
    before = await ledger_counts(container.db, cid)
    await asyncio.sleep(LOCK_HELD - 1.5)
    during = await ledger_counts(container.db, cid)
    await holder
    return before, during
