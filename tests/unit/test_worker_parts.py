"""The worker's pieces, each in milliseconds, over an in-memory transport and a real SQLite file
with an injected clock: the message gate and its refusal reasons, lease loss, stopping in the
middle of a batch, retry scheduling, the recorder's retried writes and per-sender bound, the
admissions cycle (a cycle under way, a failed cycle, closing) and the SQLite stop fence."""

from __future__ import annotations

import asyncio
import shutil
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa

from sendhouse import admission, recorder
from sendhouse import worker as worker_module
from sendhouse.admission import Admissions, Refusal
from sendhouse.bootstrap import build_container
from sendhouse.config import Settings
from sendhouse.delivery.base import RCPT, SENT, SKIPPED, SendResult, classify
from sendhouse.domain.times import utcnow
from sendhouse.services import projects as project_service
from sendhouse.services import sending
from sendhouse.store.fence import SqliteFence
from sendhouse.store.schema.campaigns import campaigns, messages
from sendhouse.worker import Batch, MessageGate, Worker
from tests.support.sending_data import start_campaign

RETRY_BASE = 60.0


class Clock:
    """The worker's wall clock, set by the test."""

    def __init__(self):
        self.now = utcnow() + timedelta(seconds=1)

    def __call__(self):
        return self.now


class MemoryTransport:
    """A transport that keeps what it was given: asks the gate, answers with `reply(msg)`."""

    def __init__(self, reply=None, before_send=None):
        self.reply = reply or (lambda msg: SendResult(SENT, 250, "2.0.0 queued"))
        self.before_send = before_send or (lambda msg: None)
        self.sent: list[str] = []
        self.asked = 0

    async def send(self, msg, *, gate=None) -> SendResult:
        self.asked += 1
        if gate is not None and not await gate.enter():
            return SendResult(SKIPPED)
        try:
            self.before_send(msg)
            result = self.reply(msg)
            if result.outcome == SENT:
                self.sent.extend(msg.rcpt_to)
            return result
        finally:
            if gate is not None:
                gate.leave()

    async def close(self) -> None:
        pass


@pytest.fixture
async def container(sqlite_template, tmp_path):
    path = tmp_path / "worker.db"
    shutil.copy(sqlite_template, path)
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=f"sqlite:///{path}",
        secret_key="test-secret-key",
        public_url="http://sendhouse.test",
        max_attempts=3,
        retry_base_seconds=RETRY_BASE,
        lease_seconds=30,
        relay_failure_limit=1000,
    )
    built = build_container(settings, migrate=False)
    yield built
    await built.close()


async def campaign(container, size: int) -> str:
    project = await project_service.create_project(container.db, name="worker")
    return await start_campaign(container.db, project["id"], size)


async def set_status(container, campaign_id: str, status: str) -> None:
    async with container.db.write() as conn:
        await conn.execute(campaigns.update().where(campaigns.c.id == campaign_id).values(status=status))


async def rows(container, campaign_id: str) -> dict[str, dict]:
    async with container.db.read() as conn:
        found = await conn.execute(sa.select(messages).where(messages.c.campaign_id == campaign_id))
        return {r["email"]: dict(r) for r in found.mappings()}


async def statuses(container, campaign_id: str) -> dict[str, str]:
    return {email: row["status"] for email, row in (await rows(container, campaign_id)).items()}


@pytest.fixture
async def worker(container):
    """A worker whose fence session is up, not running its loops: the test drives its pieces."""
    made = Worker(
        container, transport=MemoryTransport(), worker_id="w1", clock=Clock(), batch_size=10, senders=1
    )
    await made.session.start()
    yield made
    await made.session.stop()


async def claimed(worker, campaign_id: str) -> Batch:
    worker.admissions.watched.add(campaign_id)
    await worker.admissions.cycle()
    batch = await worker._claim()
    assert batch is not None
    return batch


async def gate_verdict(worker, batch: Batch) -> tuple[bool, sending.Outcome]:
    outcome = sending.Outcome(batch.rows[0], SendResult(SKIPPED))
    gate = MessageGate(worker, batch, outcome)
    entered = await gate.enter()
    if entered:
        gate.leave()
    return entered, outcome


# --- the gate: refusal reasons and what the ledger does with them ------------------------------


async def test_a_sending_campaign_is_admitted_and_its_message_leaves_the_gate(container, worker):
    cid = await campaign(container, 1)
    batch = await claimed(worker, cid)
    assert await gate_verdict(worker, batch) == (True, sending.Outcome(batch.rows[0], SendResult(SKIPPED)))
    assert not worker.admissions.inflight


@pytest.mark.parametrize(
    ("status", "refusal", "row_status"),
    [("aborted", Refusal.ABORTED, "cancelled"), ("paused", Refusal.NOT_SENDING, "queued")],
)
async def test_a_stopped_campaign_is_refused_and_its_row_given_back(
    container, worker, status, refusal, row_status
):
    cid = await campaign(container, 1)
    batch = await claimed(worker, cid)
    await set_status(container, cid, status)
    await worker.admissions.cycle()
    entered, outcome = await gate_verdict(worker, batch)
    assert not entered and outcome.stopped_status == refusal
    await worker._write([outcome])
    [row] = (await rows(container, cid)).values()
    assert (row["status"], row["attempts"], row["lease_owner"]) == (row_status, 0, None)


async def test_a_batch_whose_lease_ran_out_is_refused(container, worker):
    cid = await campaign(container, 1)
    batch = await claimed(worker, cid)
    batch.valid_until = time.monotonic() - 0.001
    entered, outcome = await gate_verdict(worker, batch)
    assert not entered and outcome.stopped_status == Refusal.LEASE_LOST
    assert not worker.admissions.inflight  # the admission it got was handed back
    await worker._write([outcome])
    assert await statuses(container, cid) == {"user0@example.com": "queued"}


async def test_a_batch_claimed_under_a_lost_fence_session_is_refused(container, worker):
    cid = await campaign(container, 1)
    batch = await claimed(worker, cid)
    batch.epoch = worker.admissions.epoch - 1  # the session was lost and re-made since the claim
    assert (await gate_verdict(worker, batch))[1].stopped_status == Refusal.LEASE_LOST


async def test_a_stopping_worker_refuses_every_message(container, worker):
    cid = await campaign(container, 1)
    batch = await claimed(worker, cid)
    worker.stop()
    assert (await gate_verdict(worker, batch))[1].stopped_status == Refusal.STOPPING


async def test_no_verdict_within_the_gate_wait_requeues(container, worker, monkeypatch):
    monkeypatch.setattr(admission, "GATE_WAIT", 0.02)
    cid = await campaign(container, 1)
    batch = await claimed(worker, cid)
    worker.admissions.healthy = False  # as after a failed cycle
    entered, outcome = await gate_verdict(worker, batch)
    assert not entered and outcome.stopped_status == Refusal.UNKNOWN
    await worker._write([outcome])
    assert await statuses(container, cid) == {"user0@example.com": "queued"}


# --- retries ---------------------------------------------------------------------------------


async def test_a_transient_reply_is_deferred_with_backoff_then_fails_after_max_attempts(container, worker):
    worker.transport = MemoryTransport(reply=lambda msg: classify(451, "4.3.0 try later", stage=RCPT))
    cid = await campaign(container, 1)
    batch = await claimed(worker, cid)
    built = await worker.composer.compose(batch.rows)
    await worker._write([await worker._send(batch, batch.rows[0], built[batch.rows[0]["id"]])])
    [row] = (await rows(container, cid)).values()
    delay = (row["next_attempt_at"] - worker.clock()).total_seconds()
    assert row["status"] == "deferred" and row["attempts"] == 1 and "451" in row["last_error"]
    assert RETRY_BASE * 0.8 <= delay <= RETRY_BASE * 1.2
    worker.clock.now = row["next_attempt_at"]
    async with container.db.write() as conn:  # the second attempt went the same way
        await conn.execute(messages.update().values(status="queued", attempts=2))
    batch = await worker._claim()
    await worker._write([await worker._send(batch, batch.rows[0], built[batch.rows[0]["id"]])])
    [row] = (await rows(container, cid)).values()
    assert (row["status"], row["attempts"]) == ("failed", 3) and row["failed_at"] is not None


# --- the pipeline, run for real --------------------------------------------------------------


@pytest.fixture
def quick(monkeypatch):
    """The worker's idle waits shortened, so that a run ends as soon as it is stopped."""
    monkeypatch.setattr(worker_module, "IDLE_WAIT", 0.005)
    monkeypatch.setattr(admission, "IDLE_POLL", 0.005)


async def test_every_row_goes_out_once(container, quick):
    cid = await campaign(container, 12)
    transport = MemoryTransport()
    made = Worker(container, transport=transport, worker_id="w2", clock=Clock(), batch_size=5, senders=2)
    transport.before_send = lambda msg: len(transport.sent) == 11 and made.stop()
    await asyncio.wait_for(made.run(), 5)
    assert sorted(transport.sent) == sorted(f"user{i}@example.com" for i in range(12))
    assert set((await statuses(container, cid)).values()) == {"sent"}


async def test_stop_during_a_batch_finishes_the_transaction_on_the_wire_and_requeues_the_rest(
    container, quick
):
    cid = await campaign(container, 10)
    transport = MemoryTransport()
    made = Worker(container, transport=transport, worker_id="w3", clock=Clock(), batch_size=10, senders=1)
    transport.before_send = lambda msg: len(transport.sent) == 2 and made.stop()  # SIGTERM during the 3rd
    await asyncio.wait_for(made.run(), 5)
    found = await rows(container, cid)
    assert len(transport.sent) == 3 and all(found[email]["status"] == "sent" for email in transport.sent)
    rest = [row for email, row in found.items() if email not in transport.sent]
    assert len(rest) == 7 and {(r["status"], r["attempts"], r["lease_owner"]) for r in rest} == {
        ("queued", 0, None)
    }


# --- the recorder ----------------------------------------------------------------------------


async def test_a_failing_write_is_retried_until_it_goes_through(monkeypatch):
    monkeypatch.setattr(recorder, "RETRY_FIRST", 0.001)
    writes, done, backlog_seen = [], [], []

    async def write(outcomes):
        writes.append(list(outcomes))
        backlog_seen.append(rec.backlog)
        if len(writes) <= 2:
            raise ConnectionError("database went away")

    rec = recorder.Recorder(write, lambda batch, n: done.append((batch, n)))
    finished = asyncio.Event()
    running = asyncio.create_task(rec.run(finished))
    rec.push("b1", "o1", 0)
    rec.push("b1", "o2", 1)
    rec.push("b2", "o3", 1)
    finished.set()
    await asyncio.wait_for(running, 2)
    assert writes == [["o1", "o2", "o3"]] * 3 and backlog_seen == [False, True, True]
    assert sorted(done) == [("b1", 2), ("b2", 1)] and not rec.backlog and not +rec.unrecorded


async def test_a_sender_starts_another_message_only_with_at_most_one_outcome_unrecorded():
    release = asyncio.Event()

    async def write(outcomes):
        await release.wait()

    rec = recorder.Recorder(write, lambda batch, n: None)
    finished = asyncio.Event()
    running = asyncio.create_task(rec.run(finished))
    rec.push("b", "o1", 0)
    await asyncio.wait_for(rec.settle(0), 1)  # one unrecorded outcome: it may go on
    rec.push("b", "o2", 0)
    waiting = asyncio.create_task(rec.settle(0))
    await asyncio.wait_for(rec.settle(1), 1)  # another sender is not held up
    await asyncio.sleep(0.01)
    assert not waiting.done()
    release.set()
    await asyncio.wait_for(waiting, 1)
    finished.set()
    await asyncio.wait_for(running, 1)
    assert rec.unrecorded[0] == 0


# --- admissions: cycles under way, failed cycles, closing -------------------------------------


class HeldSession:
    """A fence session whose cycles wait for the test, answering with `statuses`."""

    epoch = 0

    def __init__(self):
        self.statuses: dict[str, str] = {}
        self.go = asyncio.Event()
        self.calls = 0
        self.fail = False

    async def cycle(self, campaign_ids):
        self.calls += 1
        await self.go.wait()
        if self.fail:
            raise ConnectionError("session lost")
        return {cid: self.statuses[cid] for cid in campaign_ids if cid in self.statuses}


async def test_a_verdict_asked_during_a_cycle_gets_that_cycles_answer():
    session = HeldSession()
    gates = Admissions(session)
    gates.healthy, gates.open, gates.watched = True, {"c1", "c2"}, {"c1", "c2"}
    session.statuses = {"c1": "sending", "c2": "paused"}
    cycle = asyncio.create_task(gates.cycle())
    await asyncio.sleep(0.005)
    assert gates.cycling and gates.admit("c1") == Refusal.UNKNOWN
    asked = [asyncio.create_task(gates.verdict(cid, [None])) for cid in ("c1", "c2")]
    await asyncio.sleep(0.005)
    assert not any(task.done() for task in asked)
    session.go.set()
    await cycle
    assert [await task for task in asked] == [None, Refusal.NOT_SENDING]
    assert gates.inflight == {"c1": 1}


async def test_a_cycle_lets_go_of_its_locks_only_after_admitted_messages_left():
    session = HeldSession()
    session.go.set()
    gates = Admissions(session)
    gates.healthy, gates.open = True, {"c1"}
    assert gates.admit("c1") is None
    cycle = asyncio.create_task(gates.cycle())
    await asyncio.sleep(0.005)
    assert session.calls == 0 and not cycle.done()  # still draining: the locks stay held
    gates.leave("c1")
    await asyncio.wait_for(cycle, 1)
    assert session.calls == 1


async def test_a_failed_cycle_admits_nothing_until_one_goes_through():
    session = HeldSession()
    session.go.set()
    session.fail = True
    gates = Admissions(session)
    gates.healthy, gates.open = True, {"c1"}
    session.statuses = {"c1": "sending"}
    gates.watched.add("c1")
    await gates.cycle()
    assert not gates.healthy and gates.admit("c1") == Refusal.UNKNOWN
    session.fail = False
    await gates.cycle()
    assert gates.healthy and gates.admit("c1") is None


async def test_admissions_close_after_the_cycle_under_way():
    session = HeldSession()
    gates = Admissions(session)
    finished = asyncio.Event()
    running = asyncio.create_task(gates.run(finished))
    await asyncio.sleep(0.005)
    assert gates.cycling and session.calls == 1
    finished.set()
    await asyncio.sleep(0.005)
    assert not running.done()  # the cycle under way is not cut short
    session.go.set()
    await asyncio.wait_for(running, 1)
    assert session.calls == 1 and not gates.cycling and gates.healthy


# --- the SQLite stop fence -------------------------------------------------------------------


async def test_the_stopper_waits_for_a_shared_holder_and_a_stopped_session_is_dead(container):
    cid = await campaign(container, 1)
    fence = SqliteFence(container.db, timeout=0.02)
    session = fence.session("w9")
    await session.start()
    assert await session.cycle([cid]) == {cid: "sending"}
    assert await fence.close(cid) is False  # a worker may still admit this campaign's messages
    await set_status(container, cid, "paused")
    assert await session.cycle([cid]) == {cid: "paused"}  # read under the lock, then let go at once
    assert await fence.close(cid) is True
    assert await fence.dead_owners({"w9"}) == set()
    await session.stop()
    assert await fence.dead_owners({"w9"}) == {"w9"}
