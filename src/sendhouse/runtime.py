"""Running a background loop (an object with `async run()` and `stop()`) for the life of a block,
and the delivery workers alive in this process.

The scheduler, the delivery worker and the housekeeper are run this way as duties (sendhouse.roles).
A worker counts itself among this process's workers while it runs (`local_worker`): housekeeping
in the same process never takes their leases back, even while their database session is cut and
their liveness lock looks free from outside.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import asynccontextmanager, contextmanager

_LOCAL_WORKERS: set[str] = set()


@contextmanager
def local_worker(worker_id: str) -> Iterator[None]:
    """Count a delivery worker of this process as alive for the life of the block."""
    _LOCAL_WORKERS.add(worker_id)
    try:
        yield
    finally:
        _LOCAL_WORKERS.discard(worker_id)


def local_workers() -> frozenset[str]:
    """The ids of the delivery workers running in this process."""
    return frozenset(_LOCAL_WORKERS)


@asynccontextmanager
async def running(loop, *, grace: float):
    """Run `loop.run()` as a task for the life of the block (the block gets the task, so a loop that
    ends on its own can be noticed); on leaving, `loop.stop()` and wait for it up to `grace` seconds."""
    task = asyncio.create_task(loop.run(), name=type(loop).__name__.lower())
    try:
        yield task
    finally:
        loop.stop()
        await asyncio.wait_for(task, timeout=grace)
