"""The automation runner loop: carries out due automation runs (services.automation_steps).

Each tick claims due runs in batches until none is left (or MAX_BATCHES), with an injectable
clock. On PostgreSQL two passes run at once (LANES), each with its own claim: while one waits on
the database the other is worked out in Python, so the runner and the server use both cores
(SQLite has a single writer: one pass at a time). Any number of runners may run at once, in any
number of processes: runs are claimed with a lease (SKIP LOCKED on PostgreSQL), so each step is
carried out once. The worker role's "automation runs" duty (declared in roles.DUTIES, like the
scheduler).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Callable
from datetime import datetime

from sendhouse.domain.times import utcnow
from sendhouse.runtime import running
from sendhouse.services.automation_steps import run_due

log = logging.getLogger("sendhouse.automations")
TICK_SECONDS = 1.0
BATCH = 1000
MAX_BATCHES = 20
LANES = 2  # passes at once on PostgreSQL: one is worked out in Python while the other is written


class AutomationRunner:
    """`tick(now)` is one pass over due runs; `run()` ticks every interval until `stop()`."""

    def __init__(
        self,
        container,
        *,
        clock: Callable[[], datetime] = utcnow,
        interval: float = TICK_SECONDS,
        batch: int = BATCH,
        name: str | None = None,
    ):
        self.db = container.db
        self.clock, self.interval, self.batch = clock, interval, batch
        self.name = name or f"auto-{socket.gethostname()[:20]}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.stopping = asyncio.Event()

    async def tick(self, now: datetime | None = None) -> int:
        """Carry out every due step (batch after batch, in LANES on PostgreSQL); how many steps
        were carried out."""
        now = now or self.clock()
        lanes = 1 if self.db.is_sqlite else LANES
        done = await asyncio.gather(
            *(self._lane(now, MAX_BATCHES // lanes) for _ in range(lanes)), return_exceptions=True
        )  # a failing lane lets the other finish its pass
        failed = [result for result in done if isinstance(result, BaseException)]
        if failed:
            raise failed[0]
        return sum(result for result in done if isinstance(result, int))

    async def _lane(self, now: datetime, batches: int) -> int:
        total = 0
        for _ in range(batches):
            done = await run_due(self.db, runner=self.name, now=now, limit=self.batch)
            total += done
            if done == 0 or self.stopping.is_set():
                break
        return total

    async def run(self) -> None:
        while not self.stopping.is_set():
            try:
                await self.tick(self.clock())
            except Exception:  # one bad pass must not stop the runner
                log.exception("automation tick failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), self.interval)

    def stop(self) -> None:
        self.stopping.set()


def automation_part(container):
    """The automation runs duty (sendhouse.roles.DUTIES)."""
    return running(AutomationRunner(container), grace=30)
