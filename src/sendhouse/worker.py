"""The delivery worker: claim → build → send over the transport pool → record, as a pipeline.

- A feeder claims a batch and composes it while the previous one is on the wire (at most
  HELD_BATCHES claimed and not yet recorded); one sender per SMTP connection takes the ready
  messages in order; a batch is recorded in one transaction once all its rows have an outcome.

- Claims are committed before any SMTP traffic; outcomes are committed after the relay answered;
  no transaction is ever open across SMTP.
- StopWatch polls the status of the campaigns being sent. Right before each MAIL FROM a message
  passes a gate (delivery.base.Gate): it is admitted only if the campaign is sending according to
  a poll that *started* less than sending.GATE_FRESHNESS ago, the worker's heartbeat is fresh, the
  batch's lease is still safely ours and the worker is not stopping; MAIL FROM is then written with
  no await in between. services.sending.stop_fence builds the "no MAIL FROM after the response"
  promise of pause and abort on this (read its docstring for the cross-process argument).
- Leases are renewed while a batch is in hand; a message is never started after its lease could
  have expired (the lease deadline is counted from before the claim/renewal statement began).
- The shared send rate (SENDHOUSE_SEND_RATE) is a token bucket row taken in the claim's own
  transaction, so all workers on one database share it; rows given back at the gate (never offered
  to the relay) return their tokens when the batch is recorded.
- A message that finds no fresh status poll waits for one, but a batch's messages share that wait
  (Batch.stale_deadline), so stale polls hold a batch back for GATE_WAIT, not GATE_WAIT per message.
- A relay that fails relay_failure_limit times in a row pauses the campaigns being sent.
- Housekeeping returns expired leases (a crashed worker's rows) and due deferred rows to queued.
- Stopping (SIGTERM): gates refuse at once, in-flight transactions finish and are recorded (the
  senders drain the ready messages through refusing gates); a sender
  still busy after STOP_GRACE seconds is cancelled (its rows come back when their lease expires).
  Every wait inside a step is bounded, and a background task that dies stops the worker loudly.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import socket
import time
from collections import Counter, deque
from collections.abc import Callable
from datetime import datetime

from sendhouse.delivery import make_transport
from sendhouse.delivery.base import PERMANENT, SENT, SKIPPED, TRANSIENT, SendResult, connection_trouble
from sendhouse.domain import ids, mime
from sendhouse.domain.times import utcnow
from sendhouse.observability import CLAIM_SECONDS
from sendhouse.services import sending
from sendhouse.services.compose import Composer
from sendhouse.store import kv, ledger

log = logging.getLogger("sendhouse.worker")
POLL_INTERVAL = sending.GATE_FRESHNESS / 3
POLL_TIMEOUT = 5.0
GATE_WAIT = 2.0  # a message waits at most this long for a fresh poll, then goes back to queued
HEARTBEAT_EVERY = 1.0
HEARTBEAT_TRUST = sending.HEARTBEAT_LIVE.total_seconds() / 2
IDLE_WAIT = 0.2
STOP_GRACE = 3.0
DRAIN_WAIT = 5.0
HELD_BATCHES = 2  # batches claimed and not yet recorded: one on the wire, the next one composed
STOPPING, LEASE_LOST, UNKNOWN = "stopping", "lease-lost", "unknown"


class StopWatch:
    """Campaign statuses by polling, and the per-campaign count of messages past the gate."""

    def __init__(self, db, worker_id: str):
        self.db, self.worker_id = db, worker_id
        self.statuses: dict[str, str] = {}
        self.polled_at = float("-inf")  # monotonic start of the last successful poll
        self.beat_at = float("-inf")  # monotonic start of the last successful heartbeat
        self.inflight: Counter = Counter()
        self._fences: dict[str, int] = {}  # campaign → poll seq at fence time
        self._seq = 0
        self._watched: set[str] = set()
        self._polled = asyncio.Event()
        self._left = asyncio.Event()
        sending.register_watch(self)

    def admit(self, campaign_id: str) -> str | None:
        """None: admitted (counted in flight until leave); else why not; UNKNOWN: no fresh poll."""
        if campaign_id in self._fences:
            return "stopped"
        now = time.monotonic()
        if now - self.polled_at > sending.GATE_FRESHNESS or now - self.beat_at > HEARTBEAT_TRUST:
            return UNKNOWN
        status = self.statuses.get(campaign_id)
        if status is None:
            return UNKNOWN
        if status not in ledger.SENDING_CAMPAIGN:
            return status
        self.inflight[campaign_id] += 1
        return None

    def leave(self, campaign_id: str) -> None:
        self.inflight[campaign_id] -= 1
        self._left.set()

    async def verdict(self, campaign_id: str, batch: Batch) -> str | None:
        """None when admitted, else the reason to hold back. Without a fresh poll the message waits
        for one, until the batch's wait deadline (see Batch.stale_deadline)."""
        self._watched.add(campaign_id)
        why = self.admit(campaign_id)
        while why == UNKNOWN and (left := batch.stale_deadline() - time.monotonic()) > 0:
            try:
                await asyncio.wait_for(self._polled.wait(), max(0.01, left))
            except TimeoutError:
                break
            why = self.admit(campaign_id)
        if why != UNKNOWN:
            batch.stale_since = None
        return why

    def fence(self, campaign_id: str) -> None:
        """Refuse this campaign until a poll that starts after now has read its status."""
        self._fences[campaign_id] = self._seq

    async def drained(self, campaign_id: str) -> None:
        """Wait (bounded) until no message of the campaign is between its gate and MAIL FROM's reply."""
        deadline = time.monotonic() + DRAIN_WAIT
        while self.inflight[campaign_id] > 0 and time.monotonic() < deadline:
            self._left.clear()
            try:
                await asyncio.wait_for(self._left.wait(), deadline - time.monotonic())
            except TimeoutError:
                log.warning("stop fence: MAIL FROM of campaign %s still unanswered", campaign_id)

    async def run(self, finished: asyncio.Event) -> None:
        """Poll every POLL_INTERVAL, counted from the start of one poll to the start of the next (a
        slow poll on a busy machine must not leave the gates without a fresh status)."""
        while not finished.is_set():
            started = time.monotonic()
            if self._watched or self._fences:
                await self.poll()
            try:
                await asyncio.wait_for(finished.wait(), max(0.005, POLL_INTERVAL - (time.monotonic() - started)))
            except TimeoutError:
                pass

    async def poll(self) -> None:
        self._seq += 1
        seq, started = self._seq, time.monotonic()
        try:
            found = await asyncio.wait_for(sending.stop_statuses(self.db, sorted(self._watched | set(self._fences))),
                                           POLL_TIMEOUT)
        except Exception:
            log.exception("campaign status poll failed")
            return
        self.statuses.update(found)
        self.polled_at = started
        self._fences = {cid: at for cid, at in self._fences.items() if at >= seq}
        self._watched -= {cid for cid, st in found.items() if st not in ledger.SENDING_CAMPAIGN}
        self._polled.set()
        self._polled = asyncio.Event()


class Batch:
    """Rows claimed together, until when (monotonic) we may still start sending them, and the
    outcomes gathered so far (the batch is recorded once every row has one)."""

    def __init__(self, rows: list[dict], valid_until: float):
        self.rows, self.valid_until = rows, valid_until
        self.outcomes: list[sending.Outcome] = []
        self.complete = asyncio.Event()
        self.stale_since: float | None = None  # when its messages began to find no fresh poll

    def stale_deadline(self) -> float:
        """Until when a message may wait for a fresh status poll: GATE_WAIT after the batch's
        messages began to find none (shared by the batch, so a stretch of stale polls holds it back
        for seconds, not seconds per message; reset as soon as a message gets a verdict)."""
        if self.stale_since is None:
            self.stale_since = time.monotonic()
        return self.stale_since + GATE_WAIT

    def add(self, outcome: sending.Outcome) -> None:
        self.outcomes.append(outcome)
        if len(self.outcomes) == len(self.rows):
            self.complete.set()


class MessageGate:
    """delivery.base.Gate for one message: stopping, lease and campaign status checks."""

    def __init__(self, worker: Worker, batch: Batch, outcome: sending.Outcome):
        self.worker, self.batch, self.outcome = worker, batch, outcome
        self.campaign_id = outcome.row["campaign_id"] if outcome.row["kind"] != "transactional" else None

    async def enter(self) -> bool:
        why = await self.worker.stopwatch.verdict(self.campaign_id, self.batch) if self.campaign_id else None
        if why is None and not self._may_start():
            if self.campaign_id:
                self.worker.stopwatch.leave(self.campaign_id)
            why = STOPPING if self.worker.stopping.is_set() else LEASE_LOST
        self.outcome.stopped_status = why
        return why is None

    def _may_start(self) -> bool:
        return not self.worker.stopping.is_set() and time.monotonic() < self.batch.valid_until

    def leave(self) -> None:
        if self.campaign_id:
            self.worker.stopwatch.leave(self.campaign_id)


class Worker:
    """One worker process's delivery pipeline: a feeder claims and composes batches (at most
    HELD_BATCHES in hand, so the next batch is built while the current one is on the wire), one
    sender per SMTP connection takes ready messages in order, and each batch is recorded in one
    transaction as soon as all its rows have an outcome."""

    def __init__(self, container, *, transport=None, worker_id: str | None = None,
                 clock: Callable[[], datetime] = utcnow, batch_size: int | None = None,
                 senders: int | None = None):
        self.container, self.db, self.settings = container, container.db, container.settings
        self.transport = transport or make_transport(self.settings)
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{ids.new_id()[-6:]}"
        self.clock = clock
        self.batch_size = batch_size or max(50, min(500, self.settings.smtp_connections * 25))
        self.senders = senders or max(1, self.settings.smtp_connections)
        self.stopwatch = StopWatch(self.db, self.worker_id)
        self.composer = Composer(self.db, _links(self.settings), self.settings)
        self.stopping = asyncio.Event()
        self.in_hand: set[Batch] = set()
        self.lease_margin = min(5.0, self.settings.lease_seconds * 0.25)
        self.failures = 0  # consecutive transient results from the relay
        self.sent = 0
        self._ready: deque[tuple[Batch, dict, object]] = deque()
        self._wake = asyncio.Event()  # a message became ready, or the feeder ended
        self._slots = asyncio.Semaphore(HELD_BATCHES)
        self._recorders: set[asyncio.Task] = set()
        self._fed = False

    async def run(self) -> None:
        """Run until stop() is called; batches in hand are finished and recorded (within STOP_GRACE)."""
        finished = asyncio.Event()
        await self._beat()
        background = [asyncio.create_task(self.stopwatch.run(finished)), asyncio.create_task(self._keepalive(finished))]
        pipeline = [asyncio.create_task(self._feed())] + [asyncio.create_task(self._sender())
                                                          for _ in range(self.senders)]
        stop = asyncio.create_task(self.stopping.wait())
        try:
            await asyncio.wait([stop, *background, *pipeline], return_when=asyncio.FIRST_COMPLETED)
            _report_death(background + pipeline)
            self.stopping.set()
            await _finish(pipeline, STOP_GRACE)
            await _finish(list(self._recorders), STOP_GRACE)
        finally:
            finished.set()
            await _finish(background + [stop], STOP_GRACE)
            await self._close()

    async def _close(self) -> None:
        try:
            await asyncio.wait_for(self.transport.close(), STOP_GRACE)
        except Exception:
            log.exception("closing the transport failed")
        try:
            await asyncio.wait_for(sending.sign_off(self.db, self.worker_id), STOP_GRACE)
        except Exception:
            log.exception("removing the worker heartbeat failed")

    def stop(self) -> None:
        self.stopping.set()

    async def _feed(self) -> None:
        """Claim and compose batches while fewer than HELD_BATCHES are in hand."""
        try:
            while not self.stopping.is_set():
                if not await self._take_slot():
                    break
                try:
                    fed = await self._feed_one()
                except Exception:
                    log.exception("claiming or composing a batch failed")
                    fed = False
                if not fed:
                    self._slots.release()
                    await self._idle()
        finally:
            self._fed = True
            self._wake.set()

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
            self.in_hand.discard(batch)  # the rows come back when their lease expires
            raise
        self._ready.extend((batch, row, built[row["id"]]) for row in batch.rows)
        self._wake.set()
        task = asyncio.create_task(self._record(batch))
        self._recorders.add(task)
        task.add_done_callback(self._recorders.discard)
        return True

    async def _sender(self) -> None:
        """Send ready messages one after another (one SMTP connection's worth of work)."""
        while True:
            if not self._ready:
                if self._fed:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            batch, row, msg = self._ready.popleft()
            batch.add(await self._send(batch, row, msg))

    async def _record(self, batch: Batch) -> None:
        """Once every row of the batch has an outcome: one transaction records them all."""
        try:
            await batch.complete.wait()
            plan = await sending.record_outcomes(
                self.db, batch.outcomes, max_attempts=self.settings.max_attempts,
                retry_base=self.settings.retry_base_seconds, now=self.clock(), worker=self.worker_id,
                refund=self._bucket())
            self.sent += len(plan.sent)
            await self._watch_relay(batch.outcomes)
        except Exception:
            log.exception("recording a batch failed")
        finally:
            self.in_hand.discard(batch)
            self._slots.release()

    async def _idle(self) -> None:
        try:
            await asyncio.wait_for(self.stopping.wait(), IDLE_WAIT)
        except TimeoutError:
            pass

    def _bucket(self) -> tuple[str, float] | None:
        """The shared send-rate bucket (key, burst), None when the rate is unlimited."""
        rate = self.settings.send_rate
        return (_bucket_key(self.settings), max(1.0, rate)) if rate > 0 else None

    async def _claim(self) -> Batch | None:
        started, now, want = time.monotonic(), self.clock(), self.batch_size
        bucket, rate = self._bucket(), self.settings.send_rate
        async with self.db.write() as conn:
            if bucket:
                want = await kv.take_tokens(conn, bucket[0], want, rate=rate, burst=bucket[1], now=now)
            rows = await ledger.claim(conn, worker=self.worker_id, limit=want, now=now,
                                      lease_seconds=self.settings.lease_seconds)
            if bucket:
                await kv.give_back(conn, bucket[0], want - len(rows), burst=bucket[1])
        CLAIM_SECONDS.observe(time.monotonic() - started)
        return Batch(rows, started + self.settings.lease_seconds - self.lease_margin) if rows else None

    async def _send(self, batch: Batch, row: dict, msg) -> sending.Outcome:
        if isinstance(msg, Exception):
            return sending.Outcome(row, SendResult(PERMANENT, None, f"could not build the message: {msg}"))
        outcome = sending.Outcome(row, SendResult(SKIPPED))
        try:
            outcome.result = await self.transport.send(msg, gate=MessageGate(self, batch, outcome))
        except Exception as error:
            log.exception("transport failed")
            outcome.result = connection_trouble(error) if outcome.stopped_status is None else SendResult(SKIPPED)
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

    async def _beat(self) -> None:
        started = time.monotonic()
        await asyncio.wait_for(sending.heartbeat(self.db, self.worker_id, self.clock()), POLL_TIMEOUT)
        self.stopwatch.beat_at = started

    async def _keepalive(self, finished: asyncio.Event) -> None:
        """Heartbeat, lease renewal and housekeeping, every HEARTBEAT_EVERY seconds (at most)."""
        every = max(0.2, min(HEARTBEAT_EVERY, self.settings.lease_seconds / 4))
        while not finished.is_set():
            for chore in (self._beat, self._renew, self._housekeep):
                try:
                    await chore()
                except Exception:
                    log.exception("worker chore %s failed", chore.__name__)
            try:
                await asyncio.wait_for(finished.wait(), every)
            except TimeoutError:
                pass

    async def _renew(self) -> None:
        held, started = list(self.in_hand), time.monotonic()
        if held:
            await asyncio.wait_for(sending.renew_leases(self.db, self.worker_id, self.clock(),
                                                        self.settings.lease_seconds), POLL_TIMEOUT)
            for batch in held:  # rows whose lease could have expired before we renewed may be someone else's
                if started < batch.valid_until:
                    batch.valid_until = max(batch.valid_until, started + self.settings.lease_seconds - self.lease_margin)

    async def _housekeep(self) -> None:
        await asyncio.wait_for(sending.housekeep(self.db, self.clock()), POLL_TIMEOUT * 2)


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
    return mime.LinkSettings(public_url=settings.public_url, bounce_domain=settings.resolved_bounce_domain(),
                             secret=settings.resolved_secret_key())

