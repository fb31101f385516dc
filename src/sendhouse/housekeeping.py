"""The housekeeping duty: returns a dead worker's leased rows (and rows a live worker lost track of
for sending.ORPHAN_LEASES leases) and due deferred rows to `queued`, every EVERY seconds; and, every
INBOUND_EVERY seconds, processes again received messages left PROCESSING by a process that died
between storing and processing them (services/inbound_receive.recover). All of it is conditional
UPDATEs, so running it on several hosts is safe."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sendhouse.domain.times import utcnow
from sendhouse.runtime import local_workers, running
from sendhouse.services import inbound_receive, sending

log = logging.getLogger("sendhouse.housekeeping")
EVERY = 1.0
INBOUND_EVERY = 30.0
TIMEOUT = 10.0


class Housekeeper:
    """`run()` sweeps until `stop()`; one failed sweep is logged and the next one tries again."""

    def __init__(self, container, *, every: float = EVERY, inbound_every: float = INBOUND_EVERY):
        self.db, self.settings = container.db, container.settings
        self.every, self.inbound_every = every, inbound_every
        self.rules = sending.housekeeping_rules(container.settings.lease_seconds)
        self.stopping = asyncio.Event()

    async def sweep(self) -> tuple[int, int]:
        """(expired leases, promoted deferred rows) of one pass."""
        return await asyncio.wait_for(
            sending.housekeep(self.db, utcnow(), mine=local_workers(), **self.rules),
            TIMEOUT,
        )

    async def recover_inbound(self) -> int:
        """Received messages processed again in one pass (each bounded by its own timeout)."""
        return await inbound_receive.recover(self.db, self.settings, utcnow())

    async def run(self) -> None:
        inbound = asyncio.create_task(self._every(self.recover_inbound, self.inbound_every))
        try:
            await self._every(self.sweep, self.every)
        finally:  # processing a message may take a while: stopping leaves it PROCESSING for later
            inbound.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await inbound

    async def _every(self, chore, period: float) -> None:
        while not self.stopping.is_set():
            try:
                await chore()
            except Exception:  # one failed pass must not end housekeeping
                log.exception("housekeeping %s failed", chore.__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), period)

    def stop(self) -> None:
        self.stopping.set()


def housekeeping_part(container):
    """The housekeeping duty (sendhouse.roles.DUTIES)."""
    return running(Housekeeper(container), grace=TIMEOUT + 1)
