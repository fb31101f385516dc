"""A real HTTP server on 127.0.0.1 (a free port, its own thread) that records what it receives.

    with HttpReceiver(fail_first=2) as receiver:      # answers 500 twice, then 200
        ...post to receiver.url("/hook")...
        receiver.wait_for(3)                          # bounded wait for three requests
        await receiver.arrived(3)                     # the same from async code

Each request is kept raw: method, path, headers (as sent) and the exact body bytes, plus the
status it was answered with. Set `status` to change the answer of every later request.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self


@dataclass(frozen=True)
class Received:
    """One request as it arrived, and what it was answered."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    answered: int


class HttpReceiver:
    """Records every request; fails the first `fail_first` ones with `fail_status`."""

    def __init__(self, *, fail_first: int = 0, fail_status: int = 500, status: int = 200):
        self.fail_first, self.fail_status, self.status = fail_first, fail_status, status
        self.requests: list[Received] = []
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="http-receiver", daemon=True)

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _answer_for_next(self) -> int:
        if len(self.requests) < self.fail_first:
            return self.fail_status
        return self.status

    def _record(self, handler: BaseHTTPRequestHandler, body: bytes) -> int:
        with self._arrived:
            answered = self._answer_for_next()
            headers = dict(handler.headers.items())
            self.requests.append(Received(handler.command, handler.path, headers, body, answered))
            self._arrived.notify_all()
            return answered

    def wait_for(self, count: int, timeout: float = 30.0) -> list[Received]:
        """Block (bounded) until `count` requests arrived; returns a copy of them all."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while len(self.requests) < count and time.monotonic() < deadline:
                self._arrived.wait(deadline - time.monotonic())
            return list(self.requests)

    async def arrived(self, count: int, timeout: float = 30.0) -> list[Received]:
        """`wait_for` without blocking the event loop (the dispatcher may run on it)."""
        return await asyncio.to_thread(self.wait_for, count, timeout)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status = receiver._record(self, body)
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args) -> None:
                pass

        return Handler
