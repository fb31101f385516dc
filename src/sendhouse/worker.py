"""The delivery worker: claim → build → send over the transport pool → record, in a loop.

- Claims are committed before any SMTP traffic; outcomes are committed after the relay answered;
  no transaction is ever open across SMTP.
- StopWatch knows whether each campaign is still sending. Right before each SMTP transaction
  (after a pooled connection is in hand) a message waits for a status poll that *started after*
  it asked, so once a pause or abort has committed no new MAIL FROM goes out for that campaign.
  Polls run back to back while someone waits, and every POLL_INTERVAL otherwise.
- The shared send rate (SENDHOUSE_SEND_RATE) is a token bucket row taken in the claim's own
  transaction, so all workers on one database share it.
- A relay that fails relay_failure_limit times in a row pauses the campaigns being sent.
- Housekeeping returns expired leases (a crashed worker's rows) and due deferred rows to queued.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import socket
from collections.abc import Callable
from contextlib import asynccontextmanager
from datetime import datetime

from sendhouse.delivery import make_transport
from sendhouse.delivery.base import PERMANENT, SENT, SKIPPED, TRANSIENT, SendResult
from sendhouse.domain import ids, mime
from sendhouse.domain.times import utcnow
from sendhouse.services import sending
from sendhouse.services.compose import Composer
from sendhouse.store import kv, ledger

log = logging.getLogger("sendhouse.worker")
POLL_INTERVAL = 0.15
IDLE_WAIT = 0.2
LANES = 2


class StopWatch:
    """Campaign statuses, refreshed by polling; `status()` waits for a poll newer than the call."""

    def __init__(self, db, interval: float = POLL_INTERVAL):
        self.db, self.interval = db, interval
        self.statuses: dict[str, str] = {}
        self._watched: set[str] = set()
        self._started = self._done = 0
        self._changed = asyncio.Condition()
        self._wake = asyncio.Event()

    async def status(self, campaign_id: str) -> str | None:
        """The campaign's status as read by a poll that began after this call."""
        self._watched.add(campaign_id)
        need = self._started + 1
        self._wake.set()
        async with self._changed:
            await self._changed.wait_for(lambda: self._done >= need)
        return self.statuses.get(campaign_id)

    async def run(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            try:
                await asyncio.wait_for(self._wake.wait(), self.interval)
            except asyncio.TimeoutError:
                pass
            self._wake.clear()
            await self._poll()

    async def _poll(self) -> None:
        self._started += 1
        seq = self._started
        try:
            found = await sending.stop_statuses(self.db, sorted(self._watched))
        except Exception:  # noqa: BLE001 - unsure means nobody sends; try again next round
            log.exception("campaign status poll failed")
            await asyncio.sleep(self.interval)
            return
        self.statuses.update(found)
        self._watched -= {cid for cid, st in found.items() if st not in ledger.SENDING_CAMPAIGN}
        self._done = seq
        async with self._changed:
            self._changed.notify_all()


class Worker:
    """One worker process's delivery loop (several lanes share one transport pool)."""

    def __init__(self, container, *, transport=None, worker_id: str | None = None,
                 clock: Callable[[], datetime] = utcnow, batch_size: int | None = None, lanes: int = LANES):
        self.container, self.db, self.settings = container, container.db, container.settings
        self.transport = transport or make_transport(self.settings)
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{ids.new_id()[-6:]}"
        self.clock, self.lanes = clock, lanes
        self.batch_size = batch_size or max(20, min(500, self.settings.smtp_connections * 20))
        self.stopwatch = StopWatch(self.db)
        self.composer = Composer(self.db, _links(self.settings))
        self.stopping = asyncio.Event()
        self.failures = 0  # consecutive transient results from the relay
        self.sent = 0

    async def run(self) -> None:
        """Run until stop() is called; the batch in hand is finished and recorded first."""
        tasks = [asyncio.create_task(self.stopwatch.run(self.stopping)),
                 asyncio.create_task(self._housekeeping())]
        tasks += [asyncio.create_task(self._lane()) for _ in range(self.lanes)]
        try:
            await asyncio.gather(*tasks[2:])
        finally:
            self.stopping.set()
            await asyncio.gather(*tasks[:2], return_exceptions=True)
            await self.transport.close()

    def stop(self) -> None:
        self.stopping.set()

    async def _lane(self) -> None:
        while not self.stopping.is_set():
            try:
                handled = await self.step()
            except Exception:  # noqa: BLE001 - a database hiccup must not kill the worker
                log.exception("delivery step failed")
                handled = 0
            if not handled:
                await self._idle()

    async def _idle(self) -> None:
        try:
            await asyncio.wait_for(self.stopping.wait(), IDLE_WAIT)
        except asyncio.TimeoutError:
            pass

    async def step(self) -> int:
        """Claim one batch, send it, record it; how many rows were handled."""
        rows = await self._claim()
        if not rows:
            return 0
        built = await self.composer.compose(rows)
        outcomes = await asyncio.gather(*(self._send(row, built[row["id"]]) for row in rows))
        plan = await sending.record_outcomes(self.db, list(outcomes), max_attempts=self.settings.max_attempts,
                                             retry_base=self.settings.retry_base_seconds, now=self.clock())
        self.sent += len(plan.sent)
        await self._watch_relay(outcomes)
        return len(rows)

    async def _claim(self) -> list[dict]:
        now, want = self.clock(), self.batch_size
        rate = self.settings.send_rate
        async with self.db.write() as conn:
            if rate > 0:
                want = await kv.take_tokens(conn, _bucket_key(self.settings), want, rate=rate,
                                            burst=max(1.0, rate), now=now)
            rows = await ledger.claim(conn, worker=self.worker_id, limit=want, now=now,
                                      lease_seconds=self.settings.lease_seconds)
            if rate > 0:
                await kv.give_back(conn, _bucket_key(self.settings), want - len(rows), burst=max(1.0, rate))
        return rows

    async def _send(self, row: dict, msg) -> sending.Outcome:
        if isinstance(msg, Exception):
            return sending.Outcome(row, SendResult(PERMANENT, None, f"could not build the message: {msg}"))
        if row["kind"] == "transactional" or not row["campaign_id"]:
            return sending.Outcome(row, await self.transport.send(msg))
        outcome = sending.Outcome(row, SendResult(SKIPPED))

        async def gate() -> bool:
            status = await self.stopwatch.status(row["campaign_id"])
            outcome.stopped_status = None if status in ledger.SENDING_CAMPAIGN else status
            return outcome.stopped_status is None

        outcome.result = await self.transport.send(msg, gate=gate)
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

    async def _housekeeping(self) -> None:
        every = max(0.2, min(1.0, self.settings.lease_seconds / 4))
        while not self.stopping.is_set():
            try:
                await sending.housekeep(self.db, self.clock())
            except Exception:  # noqa: BLE001
                log.exception("housekeeping failed")
            try:
                await asyncio.wait_for(self.stopping.wait(), every)
            except asyncio.TimeoutError:
                pass


def _bucket_key(settings) -> str:
    """One bucket per relay, named without its credentials."""
    return "send_rate:" + hashlib.sha256(settings.smtp_url.encode()).hexdigest()[:16]


def _links(settings) -> mime.LinkSettings:
    return mime.LinkSettings(public_url=settings.public_url, bounce_domain=settings.resolved_bounce_domain(),
                             secret=settings.resolved_secret_key())


@asynccontextmanager
async def worker_part(container):
    """The worker as a background part of `sendhouse serve` (runtime.PARTS)."""
    worker = Worker(container)
    task = asyncio.create_task(worker.run())
    try:
        yield worker
    finally:
        worker.stop()
        await asyncio.wait_for(task, timeout=60)


async def run_worker_process(settings, *, with_scheduler: bool = True) -> None:
    """`sendhouse worker`: the worker (and scheduler) until SIGTERM or SIGINT."""
    import signal

    from sendhouse.bootstrap import build_container
    from sendhouse.scheduler import Scheduler

    container = build_container(settings)
    worker = Worker(container)
    scheduler = Scheduler(container) if with_scheduler else None
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: (worker.stop(), scheduler and scheduler.stop()))
    try:
        await asyncio.gather(worker.run(), *( [scheduler.run()] if scheduler else []))
    finally:
        await container.close()
