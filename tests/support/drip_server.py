"""A slow HTTP endpoint on 127.0.0.1 (its own threads): each request is answered 200 with a
Content-Length it then drips a byte at a time (every `every` seconds) until `release()`, when the
rest is sent at once. It counts requests begun, finished and at most in progress together.

    with DripServer() as slow:
        ...post to slow.url()...
        slow.wait_started(1)          # bounded wait until a request is being dripped
        slow.release()                # finish every answer
"""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self

ANSWER_BYTES = 100_000


class DripServer:
    """Answers slowly until released; counts started, finished, disconnected and concurrent requests."""

    def __init__(self, *, every: float = 0.1):
        self.every = every
        self.started = self.finished = self.dropped = self.in_progress = self.max_in_progress = 0
        self._released = threading.Event()
        self._changed = threading.Condition()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="drip-server", daemon=True)

    def url(self, path: str = "/slow") -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}{path}"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._released.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def release(self) -> None:
        self._released.set()

    def wait_started(self, count: int, timeout: float = 60.0) -> int:
        """Block (bounded) until `count` requests have begun; how many have."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while self.started < count and time.monotonic() < deadline:
                self._changed.wait(deadline - time.monotonic())
            return self.started

    def _count(self, **changes: int) -> None:
        with self._changed:
            for name, delta in changes.items():
                setattr(self, name, getattr(self, name) + delta)
            self.max_in_progress = max(self.max_in_progress, self.in_progress)
            self._changed.notify_all()

    def _drip(self, handler: BaseHTTPRequestHandler) -> None:
        handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
        self._count(started=1, in_progress=1)
        try:
            handler.send_response(200)
            handler.send_header("Content-Length", str(ANSWER_BYTES))
            handler.end_headers()
            sent = 0
            while not self._released.wait(self.every) and sent < ANSWER_BYTES - 1:
                handler.wfile.write(b"x")
                handler.wfile.flush()
                sent += 1
            handler.wfile.write(b"x" * (ANSWER_BYTES - sent))
            handler.wfile.flush()
            self._count(finished=1)
        except OSError:  # the client gave up (its deadline)
            self._count(dropped=1)
        finally:
            self._count(in_progress=-1)

    def _handler_class(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                server._drip(self)

            def log_message(self, *args):
                pass

        return Handler
