"""Real `sendhouse` processes for end-to-end tests: started on the test's database, their output
read as it comes (a full pipe would block them), stopped with SIGTERM (SIGKILL after a grace).

    proc = Sendhouse(["serve", "--port", "8123"], sendhouse_env(settings, SENDHOUSE_SMTP_URL=url))
    wait_until_up(f"http://127.0.0.1:8123/healthz")
    ...
    proc.stop()
    proc.json_logs()   # every JSON log line of its stderr, parsed
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import httpx2

START_TIMEOUT = 60.0  # a loaded 2-core machine starts Python slowly


def sendhouse_env(settings, **extra) -> dict[str, str]:
    """The environment of a process on the test's database and data dir (no other SENDHOUSE_* leaks in)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENDHOUSE_")}
    env.update(
        {
            "SENDHOUSE_DATABASE_URL": settings.resolved_database_url(),
            "SENDHOUSE_DATA_DIR": str(settings.data_dir),
            "SENDHOUSE_SECRET_KEY": "test-secret-key",
            "SENDHOUSE_WEBHOOK_ALLOW_PRIVATE": "true",
        }
    )
    env.update({k: str(v) for k, v in extra.items()})
    return env


class Sendhouse:
    """`python -m sendhouse ARGS` as a child process; keeps every line of its stdout and stderr."""

    def __init__(self, args: list[str], env: dict[str, str]):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "sendhouse", *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.out: list[str] = []
        self.err: list[str] = []
        for stream, lines in ((self.proc.stdout, self.out), (self.proc.stderr, self.err)):
            threading.Thread(target=_drain, args=(stream, lines), daemon=True).start()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self, grace: float = 20) -> int:
        """SIGTERM, then SIGKILL if it did not end within `grace` seconds; its return code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        return self.proc.returncode

    def json_logs(self) -> list[dict]:
        """Every JSON object line of stderr so far."""
        return [json.loads(line) for line in list(self.err) if line.startswith("{")]

    def tail(self, lines: int = 40) -> str:
        return "".join(list(self.err)[-lines:])


def _drain(stream, lines: list[str]) -> None:
    lines.extend(stream)  # line by line, as they come


def wait_until_up(url: str, proc: Sendhouse | None = None, timeout: float = START_TIMEOUT) -> None:
    """Bounded wait until `url` answers 200 (fails early when `proc` exits)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.proc.poll() is not None:
            raise AssertionError(f"the process exited with {proc.proc.returncode}:\n{proc.tail()}")
        try:
            if httpx2.get(url, timeout=1).status_code == 200:
                return
        except httpx2.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} did not come up:\n{proc.tail() if proc else ''}")
