"""An MCP client session held open by a task of its own, so a pytest-asyncio fixture (whose setup
and teardown run in different tasks) can yield it: anyio task groups must be left by the task
that entered them."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager


@asynccontextmanager
async def held(client):
    """Enter `client` (an mcp.Client) in a background task; yield it; leave it in that task."""
    ready, stop = asyncio.Event(), asyncio.Event()

    async def hold() -> None:
        async with client:
            ready.set()
            await stop.wait()

    task, waiter = asyncio.create_task(hold()), asyncio.create_task(ready.wait())
    await asyncio.wait([task, waiter], return_when=asyncio.FIRST_COMPLETED, timeout=60)
    waiter.cancel()
    if task.done():
        await task
    try:
        yield client
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=60)
