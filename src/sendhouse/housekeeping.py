"""The housekeeping duty: returns a dead worker's leased rows (and rows a live worker lost track of
for ORPHAN_LEASES leases) and due deferred rows to `queued`, every EVERY seconds. Both are
conditional UPDATEs, so running it on several hosts is safe."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sendhouse.domain.times import utcnow
from sendhouse.runtime import running
from sendhouse.services import sending

log = logging.getLogger("sendhouse.housekeeping")
EVERY = 1.0
TIMEOUT = 10.0
ORPHAN_LEASES = 10  # as the worker's own housekeeping (worker.ORPHAN_LEASES)


class Housekeeper:
    """`run()` sweeps until `stop()`; one failed sweep is logged and the next one tries again."""

    def __init__(self, container, *, every: float = EVERY):
        self.db, self.every = container.db, every
        self.orphan_after = ORPHAN_LEASES * container.settings.lease_seconds
        self.stopping = asyncio.Event()

    async def sweep(self) -> tuple[int, int]:
        """(expired leases, promoted deferred rows) of one pass."""
        return await asyncio.wait_for(
            sending.housekeep(self.db, utcnow(), orphan_after=self.orphan_after), TIMEOUT
        )

    async def run(self) -> None:
        while not self.stopping.is_set():
            try:
                await self.sweep()
            except Exception:  # one failed sweep must not end housekeeping
                log.exception("housekeeping sweep failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), self.every)

    def stop(self) -> None:
        self.stopping.set()


def housekeeping_part(container):
    """The housekeeping duty (sendhouse.roles.DUTIES)."""
    return running(Housekeeper(container), grace=TIMEOUT + 1)
