"""The whole app served by a real uvicorn on 127.0.0.1 (a free port) in a thread, for sync clients.

    with LiveServer(settings) as server:
        requests.get(server.url + "/healthz")

The app builds its own container from the settings inside the server's event loop, so nothing
bound to another loop is shared. Start and stop are bounded waits.
"""

from __future__ import annotations

import threading
import time
from typing import Self

import uvicorn

from sendhouse.app import create_app
from sendhouse.config import Settings
from tests.support.smtp_sink import free_port

START_TIMEOUT = 30.0


class LiveServer:
    """uvicorn running create_app(settings) until the context exits."""

    def __init__(self, settings: Settings, background: list | None = None):
        self.port = free_port()
        app = create_app(settings, background=background or [])
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="live-server", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Self:
        self.thread.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the live server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *_exc) -> None:
        self.server.should_exit = True
        self.thread.join(START_TIMEOUT)
