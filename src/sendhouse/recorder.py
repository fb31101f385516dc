"""Outcomes made durable in small group commits, and kept in hand until they are.

Each sender (one SMTP connection's worth of work) pushes the outcome of every message it finished
and, before it starts another message, waits until at most one of its outcomes is unrecorded.
So at any instant a sender has at most two messages the relay may have accepted that the ledger
does not know about yet (one waiting for its commit, one on the wire): a kill -9 re-sends at most
2 × senders messages, each with its row's Message-ID.

The recorder writes whatever has gathered in one transaction (services.sending.record_outcomes),
again and again. A write that fails is retried with backoff until it goes through; meanwhile the
outcomes stay in hand, the worker keeps renewing its leases (the liveness lock keeps other workers
from taking its rows back), and `backlog` tells the feeder to claim nothing new.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger("sendhouse.worker")
RETRY_FIRST, RETRY_MAX = 0.1, 5.0
UNRECORDED_PER_SENDER = 1


class Recorder:
    """Group commits of (batch, outcome) pairs pushed by senders; `write(outcomes)` commits a group
    (raising on failure) and `done(batch, n)` is told how many of a batch's rows were recorded."""

    def __init__(self, write: Callable[[list], Awaitable[None]], done: Callable[[Any, int], None]):
        self.write, self.done = write, done
        self.queue: list[tuple[object, object, int]] = []
        self.unrecorded: Counter = Counter()  # sender → outcomes pushed and not yet committed
        self.backlog = False  # a write failed and is being retried
        self._pushed = asyncio.Event()
        self._recorded = asyncio.Event()

    def push(self, batch, outcome, sender: int) -> None:
        self.queue.append((batch, outcome, sender))
        self.unrecorded[sender] += 1
        self._pushed.set()

    async def settle(self, sender: int) -> None:
        """Return once this sender may start another message (≤ UNRECORDED_PER_SENDER unrecorded)."""
        while self.unrecorded[sender] > UNRECORDED_PER_SENDER:
            self._recorded.clear()
            await self._recorded.wait()

    async def run(self, finished: asyncio.Event) -> None:
        """Record until `finished` is set and nothing is left to record."""
        while self.queue or not finished.is_set():
            if not self.queue:
                await _either(self._pushed, finished)
                self._pushed.clear()
                continue
            group, self.queue = self.queue, []
            await self._write_until_done(group, finished)
            self._settled(group)

    async def _write_until_done(self, group: list, finished: asyncio.Event) -> None:
        delay = RETRY_FIRST
        while True:
            try:
                await self.write([outcome for _batch, outcome, _sender in group])
                self.backlog = False
                return
            except Exception:
                self.backlog = True
                log.exception("recording %d outcomes failed; retrying in %.1f s", len(group), delay)
            await asyncio.sleep(delay)
            delay = min(RETRY_MAX, delay * 2)

    def _settled(self, group: list) -> None:
        per_batch: Counter = Counter()
        for batch, _outcome, sender in group:
            self.unrecorded[sender] -= 1
            per_batch[batch] += 1
        for batch, n in per_batch.items():
            self.done(batch, n)
        self._recorded.set()


async def _either(first: asyncio.Event, second: asyncio.Event) -> None:
    waits = [asyncio.create_task(first.wait()), asyncio.create_task(second.wait())]
    _done, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
