"""The /mcp endpoint of the HTTP app. It imports the MCP SDK and builds the server (a pydantic
model per tool) on the first MCP request, not when the app is made: API, dashboard and worker
processes that never serve MCP never pay for it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from sendhouse.bootstrap import Container

PATH = "/mcp"


def mount_http(app: FastAPI, container: Container) -> LazyMcp:
    """Serve MCP over streamable HTTP at /mcp. The server (a pydantic model per tool, ~100 ms) is
    built on the first MCP request, not with the app; its session manager stops with the app."""
    endpoint = LazyMcp(container)
    app.router.routes.append(Route(PATH, endpoint=endpoint, include_in_schema=False))
    app.state.lifespan_parts.append(lambda _container: endpoint.running())
    return endpoint


class LazyMcp:
    """The /mcp ASGI endpoint: builds the MCP server and starts its session manager once, on the first
    request, and stops the session manager when the app's lifespan ends."""

    def __init__(self, container: Container):
        self.container = container
        self._asgi: ASGIApp | None = None
        self._lock = asyncio.Lock()
        self._stop = asyncio.Event()
        self._task: asyncio.Task | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._asgi is None:
            await self._start()
        assert self._asgi is not None
        await self._asgi(scope, receive, send)

    async def _start(self) -> None:
        async with self._lock:
            if self._asgi is not None:
                return
            from sendhouse.mcp_tools.server import build_server, transport_security

            server = build_server(self.container, http=True)
            asgi = server.streamable_http_app(
                streamable_http_path=PATH, transport_security=transport_security(self.container.settings)
            )
            self._task = await _start_session_manager(server, self._stop)
            self._asgi = asgi

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        try:
            yield
        finally:
            self._stop.set()
            if self._task is not None:
                await self._task


async def _start_session_manager(server: Any, stop: asyncio.Event) -> asyncio.Task:
    """Run the session manager in a task of its own (its task group must be entered and left by the
    same task, which neither a request nor the app's lifespan guarantees); return once it runs."""
    started = asyncio.Event()

    async def hold() -> None:
        async with server.session_manager.run():
            started.set()
            await stop.wait()

    task, waiter = asyncio.create_task(hold()), asyncio.create_task(started.wait())
    await asyncio.wait([task, waiter], return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()
    if task.done():
        await task  # it failed to start: raise why
    return task
