"""Running a background loop (an object with `async run()` and `stop()`) for the life of a block.

The scheduler, the delivery worker and the housekeeper are run this way as duties (sendhouse.roles).
"""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager


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
