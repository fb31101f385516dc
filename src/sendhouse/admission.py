"""Which messages a worker may start: the worker's half of the stop fence, and the per-message gate.

Admissions cycles the worker's fence session (store/fence.py) every POLL_INTERVAL: it stops
admitting, waits until every admitted MAIL FROM has been answered, lets go of the campaigns'
shared locks, takes them again and reads the campaigns' statuses under them. Between two cycles a
message of campaign C is admitted only if C's lock is held and C was read as sending under it;
that is what makes "no MAIL FROM after the pause/abort response" hold without clocks.

MessageGate (worker.py) is delivery.base.Gate for one message: a campaign message needs an admission; every
message needs a batch still safely ours (its lease not run out by the monotonic clock, and the
fence session it was claimed under still standing) and a worker that is not stopping.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from enum import StrEnum

from sendhouse.store.fence import SENDING, FenceSession

log = logging.getLogger("sendhouse.worker")
POLL_INTERVAL = 0.05  # start to start, while campaigns are being sent
IDLE_POLL = 0.25  # with no campaign in hand (the liveness session is still checked)
CYCLE_TIMEOUT = 5.0
GATE_WAIT = 2.0  # a batch's messages wait at most this long for an admission, then go back to queued


class Refusal(StrEnum):
    """Why a message was not started (an `aborted` refusal cancels the row, any other requeues it)."""

    UNKNOWN = "unknown"  # no verdict yet: the lock is not held or a cycle is under way
    ABORTED = "aborted"
    NOT_SENDING = "not-sending"  # paused, or any other state that is not sending
    STOPPING = "stopping"
    LEASE_LOST = "lease-lost"


class Admissions:
    """The campaigns this worker may start messages for, and the messages past their gate."""

    def __init__(self, session: FenceSession):
        self.session = session
        self.open: set[str] = set()  # campaigns held and read as sending in the current cycle
        self.statuses: dict[str, str] = {}
        self.watched: set[str] = set()
        self.inflight: Counter = Counter()
        self.cycling = False
        self.healthy = False  # the last cycle went through (the session and its locks stand)
        self._changed = asyncio.Event()
        self._left = asyncio.Event()

    @property
    def epoch(self) -> int:
        return self.session.epoch

    def admit(self, campaign_id: str) -> Refusal | None:
        """None: admitted (in flight until leave); otherwise why not (UNKNOWN: ask again later)."""
        if self.cycling or not self.healthy:
            return Refusal.UNKNOWN
        if campaign_id in self.open:
            self.inflight[campaign_id] += 1
            return None
        status = self.statuses.get(campaign_id)
        if status is None or status in SENDING:
            return Refusal.UNKNOWN
        return Refusal.ABORTED if status == "aborted" else Refusal.NOT_SENDING

    def leave(self, campaign_id: str) -> None:
        self.inflight[campaign_id] -= 1
        if self.inflight[campaign_id] <= 0:
            del self.inflight[campaign_id]
        self._left.set()

    async def verdict(self, campaign_id: str, waiting_since: list[float | None]) -> Refusal | None:
        """Admit, or wait for the next cycles while the answer is UNKNOWN (a batch's messages share
        one GATE_WAIT: `waiting_since` is the batch's)."""
        self.watched.add(campaign_id)
        why = self.admit(campaign_id)
        while why == Refusal.UNKNOWN:
            since = waiting_since[0]
            if since is None:
                since = waiting_since[0] = time.monotonic()
            left = since + GATE_WAIT - time.monotonic()
            if left <= 0 or not await self._next_change(left):
                return why
            why = self.admit(campaign_id)
        waiting_since[0] = None
        return why

    async def _next_change(self, timeout: float) -> bool:
        try:
            await asyncio.wait_for(self._changed.wait(), timeout)
            return True
        except TimeoutError:
            return False

    async def run(self, finished: asyncio.Event) -> None:
        """Cycle until finished, start to start (a slow cycle does not push the next one back)."""
        while not finished.is_set():
            started = time.monotonic()
            await self.cycle()
            every = POLL_INTERVAL if self.watched else IDLE_POLL
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(finished.wait(), max(0.005, every - (time.monotonic() - started)))

    async def cycle(self) -> None:
        self.cycling = True
        try:
            await self._drain()
            found = await asyncio.wait_for(self.session.cycle(sorted(self.watched)), CYCLE_TIMEOUT)
            self.statuses.update(found)
            self.open = {cid for cid, status in found.items() if status in SENDING}
            self.watched -= set(found) - self.open
            self.healthy = True
        except Exception:
            log.exception("fence cycle failed; no message starts until one goes through")
            self.open, self.healthy = set(), False
        finally:
            self.cycling = False
            self._changed.set()
            self._changed = asyncio.Event()

    async def _drain(self) -> None:
        """Wait until every admitted MAIL FROM has been answered (each is bounded by the SMTP
        timeout); until then the locks they were admitted under must stay held."""
        while self.inflight:
            self._left.clear()
            await self._left.wait()
