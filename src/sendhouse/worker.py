"""The delivery worker: claim → build → send over the transport pool → record, as a pipeline.

- A feeder claims a batch and composes it while the previous one is on the wire (at most
  HELD_BATCHES claimed and not fully recorded); one sender per SMTP connection takes the ready
  messages in order; outcomes are committed in small group commits (recorder.py), and a sender
  starts a new message only when at most one of its outcomes is unrecorded.
- Claims are committed before any SMTP traffic; outcomes are committed after the relay answered;
  no transaction is ever open across SMTP.
- Right before each MAIL FROM a message passes its gate (MessageGate, below): a campaign message
  needs an admission under the campaign's fence lock (admission.py, store/fence.py: the "no MAIL
  FROM after the pause/abort response" promise rests on locks, not clocks); every message needs its
  batch's lease (monotonic clock) and the fence session it was claimed under.
- Leases are renewed while a batch is in hand; housekeeping takes leases back only from workers
  whose liveness lock is gone (or that lost track of rows for 10 leases), so a database outage that
  stops renewals never hands a live worker's accepted mail to another worker.
- A failed outcome write is retried until it goes through; the feeder claims nothing meanwhile.
- The shared send rate (SENDHOUSE_SEND_RATE) is a token bucket row taken in the claim's own
  transaction, so all workers on one database share it; rows given back at the gate (never offered
  to the relay) return their tokens when they are recorded.
- A relay that fails relay_failure_limit times in a row pauses the campaigns being sent.
- Stopping (SIGTERM): gates refuse at once, in-flight transactions finish and are recorded (the
  senders drain the ready messages through refusing gates); a sender still busy after STOP_GRACE
  seconds is cancelled; outcomes are written for up to RECORD_GRACE seconds more.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import socket
import time
from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta

from sendhouse.admission import Admissions, Refusal
from sendhouse.delivery import make_transport
from sendhouse.delivery.base import PERMANENT, SENT, SKIPPED, TRANSIENT, SendResult, connection_trouble
from sendhouse.domain import ids, mime
from sendhouse.domain.times import utcnow
from sendhouse.observability import CLAIM_SECONDS
from sendhouse.recorder import Recorder
from sendhouse.runtime import local_worker, local_workers
from sendhouse.services import sending
from sendhouse.services.compose import Composer
from sendhouse.store import kv, ledger

log = logging.getLogger("sendhouse.worker")
CHORE_TIMEOUT = 10.0
KEEPALIVE_EVERY = 1.0
IDLE_WAIT = 0.2
STOP_GRACE = 3.0
RECORD_GRACE = 30.0
HELD_BATCHES = 2  # batches claimed and not yet recorded: one on the wire, the next one composed


class Batch:
    """Rows claimed together: until when (monotonic) we may still start them, the fence session
    epoch they were claimed under, and how many of them are recorded."""

    def __init__(self, rows: list[dict], valid_until: float, epoch: int):
        self.rows, self.valid_until, self.epoch = rows, valid_until, epoch
        self.recorded = 0
        self.waiting_since: list[float | None] = [None]  # shared wait for an admission (admission.GATE_WAIT)


class MessageGate:
    """delivery.base.Gate for one message (see admission.py)."""

    def __init__(self, worker: Worker, batch: Batch, outcome: sending.Outcome):
        self.worker, self.batch, self.outcome = worker, batch, outcome
        self.campaign_id = outcome.row["campaign_id"] if outcome.row["kind"] != "transactional" else None

    async def enter(self) -> bool:
        admissions = self.worker.admissions
        why = (
            await admissions.verdict(self.campaign_id, self.batch.waiting_since) if self.campaign_id else None
        )
        if why is None and not self._may_start():
            self.leave()
            why = Refusal.STOPPING if self.worker.stopping.is_set() else Refusal.LEASE_LOST
        self.outcome.stopped_status = why
        return why is None

    def _may_start(self) -> bool:
        admissions = self.worker.admissions
        return (
            not self.worker.stopping.is_set()
            and time.monotonic() < self.batch.valid_until
            and admissions.healthy
            and self.batch.epoch == admissions.epoch
        )

    def leave(self) -> None:
        if self.campaign_id:
            self.worker.admissions.leave(self.campaign_id)


class Worker:
    """One worker process's delivery pipeline (see the module docstring)."""

    def __init__(
        self,
        container,
        *,
        transport=None,
        worker_id: str | None = None,
        clock: Callable[[], datetime] | None = None,
        batch_size: int | None = None,
        senders: int | None = None,
    ):
        self.container, self.db, self.settings = container, container.db, container.settings
        self.transport = transport or make_transport(self.settings)
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{ids.new_id()[-6:]}"
        self.clock = clock or self._database_time
        self.clock_offset = timedelta(0)  # the database server's clock minus ours (PostgreSQL)
        self.batch_size = batch_size or max(50, min(500, self.settings.smtp_connections * 25))
        self.senders = senders or max(1, self.settings.smtp_connections)
        self.session = self.db.fence.session(self.worker_id)
        self.admissions = Admissions(self.session)
        self.recorder = Recorder(self._write, self._recorded)
        self.composer = Composer(self.db, _links(self.settings), self.settings)
        self.stopping = asyncio.Event()
        self.in_hand: set[Batch] = set()
        self.lease_margin = min(5.0, self.settings.lease_seconds * 0.25)
        self.failures = 0  # consecutive transient results from the relay
        self.sent = 0
        self._ready: deque[tuple[Batch, dict, object]] = deque()
        self._wake = asyncio.Event()  # a message became ready, or the feeder ended
        self._slots = asyncio.Semaphore(HELD_BATCHES)
        self._fed = False

    def _database_time(self) -> datetime:
        """Our clock set to the database server's, so that every host stamps and compares ledger
        times (due, lease, sent) on one clock, whatever its own says."""
        return utcnow() + self.clock_offset

    async def run(self) -> None:
        """Run until stop() is called; batches in hand are finished and recorded."""
        with local_worker(self.worker_id):  # this process's housekeeping keeps our leases
            await self._run()

    async def _run(self) -> None:
        self.clock_offset = await sending.database_clock_offset(self.db)
        await self.session.start()
        await self.admissions.cycle()
        finished, recorded = asyncio.Event(), asyncio.Event()
        background = [
            asyncio.create_task(self.admissions.run(finished)),
            asyncio.create_task(self._keepalive(finished)),
        ]
        recorder = asyncio.create_task(self.recorder.run(recorded))
        pipeline = [asyncio.create_task(self._feed())] + [
            asyncio.create_task(self._sender(n)) for n in range(self.senders)
        ]
        stop = asyncio.create_task(self.stopping.wait())
        try:
            await asyncio.wait([stop, recorder, *background, *pipeline], return_when=asyncio.FIRST_COMPLETED)
            _report_death([recorder, *background, *pipeline])
            self.stopping.set()
            await _finish(pipeline, STOP_GRACE)
            recorded.set()
            await _finish([recorder], RECORD_GRACE)
        finally:
            finished.set()
            await _finish([*background, stop, recorder], STOP_GRACE)
            await self._close()

    async def _close(self) -> None:
        for closing in (self.transport.close, self.session.stop):
            try:
                await asyncio.wait_for(closing(), STOP_GRACE)
            except Exception:
                log.exception("closing the worker failed (%s)", closing.__qualname__)

    def stop(self) -> None:
        self.stopping.set()

    async def _feed(self) -> None:
        """Claim and compose batches while fewer than HELD_BATCHES are in hand."""
        try:
            while not self.stopping.is_set():
                if not await self._take_slot():
                    break
                try:
                    fed = self._may_claim() and await self._feed_one()
                except Exception:
                    log.exception("claiming or composing a batch failed")
                    fed = False
                if not fed:
                    self._slots.release()
                    await self._idle()
        finally:
            self._fed = True
            self._wake.set()

    def _may_claim(self) -> bool:
        """Nothing new while outcomes wait for a failed write, or while the fence session is down."""
        return not self.recorder.backlog and self.admissions.healthy

    async def _take_slot(self) -> bool:
        while not self.stopping.is_set():
            try:
                await asyncio.wait_for(self._slots.acquire(), IDLE_WAIT)
                return True
            except TimeoutError:
                pass
        return False

    async def _feed_one(self) -> bool:
        batch = await self._claim()
        if batch is None:
            return False
        self.in_hand.add(batch)  # its leases are renewed until the outcomes are recorded
        try:
            built = await self.composer.compose(batch.rows)
        except BaseException:
            self.in_hand.discard(batch)
            await sending.give_back(self.db, [row["id"] for row in batch.rows], self.worker_id, self.clock())
            raise
        self._ready.extend((batch, row, built[row["id"]]) for row in batch.rows)
        self._wake.set()
        return True

    async def _sender(self, lane: int) -> None:
        """Send ready messages one after another (one SMTP connection's worth of work)."""
        while True:
            if not self._ready:
                if self._fed:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            batch, row, msg = self._ready.popleft()
            await self.recorder.settle(lane)
            self.recorder.push(batch, await self._send(batch, row, msg), lane)

    async def _write(self, outcomes: list[sending.Outcome]) -> None:
        """One group commit of outcomes (raises when nothing was committed: the recorder retries)."""
        plan = await sending.record_outcomes(
            self.db,
            outcomes,
            max_attempts=self.settings.max_attempts,
            retry_base=self.settings.retry_base_seconds,
            now=self.clock(),
            worker=self.worker_id,
            refund=self._bucket(),
        )
        self.sent += len(plan.sent)
        try:
            await self._watch_relay(outcomes)
        except Exception:
            log.exception("pausing campaigns for a failing relay failed")

    def _recorded(self, batch: Batch, count: int) -> None:
        batch.recorded += count
        if batch.recorded >= len(batch.rows) and batch in self.in_hand:
            self.in_hand.discard(batch)
            self._slots.release()

    async def _idle(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), IDLE_WAIT)

    def _bucket(self) -> tuple[str, float] | None:
        """The shared send-rate bucket (key, burst), None when the rate is unlimited."""
        rate = self.settings.send_rate
        return (_bucket_key(self.settings), max(1.0, rate)) if rate > 0 else None

    async def _claim(self) -> Batch | None:
        started, now, want = time.monotonic(), self.clock(), self.batch_size
        epoch, bucket, rate = self.admissions.epoch, self._bucket(), self.settings.send_rate
        async with self.db.write(quick=True) as conn:
            if bucket:
                want = await kv.take_tokens(conn, bucket[0], want, rate=rate, burst=bucket[1], now=now)
            rows = await ledger.claim(
                conn, worker=self.worker_id, limit=want, now=now, lease_seconds=self.settings.lease_seconds
            )
            if bucket:
                await kv.give_back(conn, bucket[0], want - len(rows), burst=bucket[1])
        CLAIM_SECONDS.observe(time.monotonic() - started)
        return Batch(rows, started + self.settings.lease_seconds - self.lease_margin, epoch) if rows else None

    async def _send(self, batch: Batch, row: dict, msg) -> sending.Outcome:
        if isinstance(msg, Exception):
            return sending.Outcome(row, SendResult(PERMANENT, None, f"could not build the message: {msg}"))
        outcome = sending.Outcome(row, SendResult(SKIPPED))
        try:
            outcome.result = await self.transport.send(msg, gate=MessageGate(self, batch, outcome))
        except Exception as error:
            log.exception("transport failed")
            outcome.result = (
                connection_trouble(error) if outcome.stopped_status is None else SendResult(SKIPPED)
            )
        if outcome.result.outcome != SKIPPED:
            outcome.stopped_status = None
        return outcome

    async def _watch_relay(self, outcomes) -> None:
        for item in outcomes:
            if item.result.outcome == SENT or (item.result.outcome == PERMANENT and item.result.code):
                self.failures = 0
            elif item.result.outcome == TRANSIENT:
                self.failures += 1
        if self.failures < self.settings.relay_failure_limit:
            return
        last = next((o.result for o in reversed(outcomes) if o.result.outcome == TRANSIENT), None)
        campaign_ids = sorted({o.row["campaign_id"] for o in outcomes if o.row["campaign_id"]})
        reason = f"The SMTP relay keeps failing ({self.failures} failures in a row; last: {last.response if last else ''})"
        paused = await sending.pause_for_relay(self.db, campaign_ids, reason[:500], self.clock())
        log.warning("relay keeps failing; paused campaigns %s", paused)
        self.failures = 0

    async def _keepalive(self, finished: asyncio.Event) -> None:
        """Lease renewal and housekeeping, every KEEPALIVE_EVERY seconds (at most)."""
        every = max(0.2, min(KEEPALIVE_EVERY, self.settings.lease_seconds / 4))
        while not finished.is_set():
            for chore in (self._renew, self._housekeep):
                try:
                    await chore()
                except Exception:
                    log.exception("worker chore %s failed", chore.__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(finished.wait(), every)

    async def _renew(self) -> None:
        held, started = list(self.in_hand), time.monotonic()
        if held:
            await asyncio.wait_for(
                sending.renew_leases(self.db, self.worker_id, self.clock(), self.settings.lease_seconds),
                CHORE_TIMEOUT,
            )
            for batch in held:  # rows whose lease could have expired before we renewed may be someone else's
                if started < batch.valid_until:
                    batch.valid_until = max(
                        batch.valid_until, started + self.settings.lease_seconds - self.lease_margin
                    )

    async def _housekeep(self) -> None:
        rules = sending.housekeeping_rules(self.settings.lease_seconds)
        await asyncio.wait_for(
            sending.housekeep(self.db, self.clock(), mine=local_workers(), **rules), CHORE_TIMEOUT
        )


def _report_death(tasks: list[asyncio.Task]) -> None:
    for task in tasks:
        if task.done() and not task.cancelled() and task.exception() is not None:
            log.error("worker task died; stopping the worker", exc_info=task.exception())


async def _finish(tasks: list[asyncio.Task], grace: float) -> None:
    """Let tasks end within `grace` seconds, then cancel the rest and wait for them."""
    if not tasks:
        return
    _done, pending = await asyncio.wait(tasks, timeout=grace)
    for task in pending:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def _bucket_key(settings) -> str:
    """One bucket per relay, named without its credentials."""
    return "send_rate:" + hashlib.sha256(settings.smtp_url.encode()).hexdigest()[:16]


def _links(settings) -> mime.LinkSettings:
    return mime.LinkSettings(
        public_url=settings.public_url,
        bounce_domain=settings.resolved_bounce_domain(),
        secret=settings.resolved_secret_key(),
    )
