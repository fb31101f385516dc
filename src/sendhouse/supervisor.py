"""`sendhouse serve` as a supervisor of a process per role, and the entry point of its children.

The parent (logs with role `supervisor`) does the first start once, before any child exists
(cli.py: migrations on SQLite; project `default`, its key and a dashboard login, printed once),
binds the HTTP socket, imports every role's code (roles.preload) and then forks its children, which
so start in well under a second and share the imported code's memory:

- SENDHOUSE_API_PROCESSES `api` processes: uvicorn over the one listening socket, so they
  share the port (the kernel hands each connection to one of them);
- SENDHOUSE_WORKERS `worker` processes (none with `--no-worker`).

Child 0 of a role also runs that role's run-once duties (roles.duties_for(first=True)): the
scheduler, automation runs, webhook dispatch and housekeeping in worker 0, the inbound receiver
and the SMTP submission server in api 0.

Beside worker processes, the api processes run at a lower CPU priority (API_NICENESS): when the
machine's cores are all busy, delivery keeps its pace and HTTP requests wait their turn; when they
are not, the niceness changes nothing (DESIGN §5: HTTP load must never slow sending).

A child that exits is logged (`child_exited`, with its code) and started again after a backoff
(BACKOFF_BASE doubling up to BACKOFF_MAX; back to BACKOFF_BASE once a child had lived
STABLE_AFTER seconds). SIGTERM or SIGINT: every child gets SIGTERM (a worker stops taking mail,
lets its in-flight SMTP transactions finish and records them; uvicorn finishes its requests), the
parent waits up to STOP_GRACE seconds, SIGKILLs what is left and exits 0. On Linux a child gets
SIGTERM when the parent dies (PR_SET_PDEATHSIG), so a killed supervisor leaves no orphan behind.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import multiprocessing
import os
import signal
import socket
import sys
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass
from multiprocessing.process import BaseProcess

from sendhouse.observability import event
from sendhouse.roles import API, WORKER, run_duties, start_duties

log = logging.getLogger("sendhouse.supervisor")
BACKOFF_BASE, BACKOFF_MAX, STABLE_AFTER = 0.5, 30.0, 30.0
STOP_GRACE = 45.0
POLL = 0.1
STARTUP_FAILED = 3
API_NICENESS = 5  # CPU weight about a third of a worker's when both want the CPU
PR_SET_PDEATHSIG = 1
STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}


@dataclass
class Child:
    """One supervised process slot: its role and index, the running process, its restart state."""

    role: str
    index: int
    proc: BaseProcess | None = None
    started_at: float = 0.0
    failures: int = 0  # exits in a row without a stable run
    restart_at: float | None = None


def plan(settings, roles: tuple[str, ...]) -> list[Child]:
    """The children of a `serve` that runs `roles` (roles.COMMANDS): its api processes, then its workers."""
    counts = {API: settings.api_processes, WORKER: settings.workers}
    return [Child(role, i) for role in (API, WORKER) if role in roles for i in range(counts[role])]


def backoff(failures: int) -> float:
    """Seconds to wait before starting a child again after `failures` exits in a row."""
    return min(BACKOFF_MAX, BACKOFF_BASE * 2 ** max(0, failures - 1))


def listen(host: str, port: int) -> socket.socket:
    """The HTTP listening socket every api child serves on."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.create_server((host, port), family=family, backlog=2048)


class Supervisor:
    """Starts the children, restarts those that exit, stops them all on SIGTERM or SIGINT."""

    def __init__(self, children: list[Child], sock: socket.socket):
        self.children, self.sock = children, sock
        self.signal: int | None = None
        self.beside_workers = any(child.role == WORKER for child in children)

    def run(self) -> int:
        for sig in STOP_SIGNALS:
            signal.signal(sig, self._on_signal)
        for child in self.children:
            self._start(child)
        while self.signal is None:
            for child in self.children:
                self._tend(child, time.monotonic())
            time.sleep(POLL)
        event(log, "supervisor_stopping", signal=signal.Signals(self.signal).name)
        self._stop_all()
        return 0

    def _on_signal(self, signum: int, _frame) -> None:
        self.signal = self.signal or signum

    def _tend(self, child: Child, now: float) -> None:
        if child.proc is not None and not child.proc.is_alive():
            self._exited(child, now)
        if child.proc is None and child.restart_at is not None and now >= child.restart_at:
            self._start(child)

    def _exited(self, child: Child, now: float) -> None:
        lived, proc = now - child.started_at, child.proc
        assert proc is not None
        child.failures = 1 if lived >= STABLE_AFTER else child.failures + 1
        delay = backoff(child.failures)
        event(
            log,
            "child_exited",
            logging.ERROR,
            child_role=child.role,
            index=child.index,
            child_pid=proc.pid,
            code=proc.exitcode,
            lived_s=round(lived, 1),
            restart_in_s=delay,
        )
        child.proc, child.restart_at = None, now + delay

    def _start(self, child: Child) -> None:
        child.started_at, child.restart_at = time.monotonic(), None
        child.proc = proc = FORK.Process(
            target=_child_main,
            args=(child.role, child.index, self.sock, self.beside_workers),
            name=f"{child.role}-{child.index}",
        )
        signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)  # until the child has undone our handlers
        try:
            proc.start()
        except OSError:
            log.exception("starting a %s process failed", child.role)
            child.proc, child.failures = None, child.failures + 1
            child.restart_at = time.monotonic() + backoff(child.failures)
            return
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
        event(log, "child_started", child_role=child.role, index=child.index, child_pid=proc.pid)

    def _stop_all(self) -> None:
        live = [(c, c.proc) for c in self.children if c.proc is not None and c.proc.is_alive()]
        for _, proc in live:
            proc.terminate()  # SIGTERM
        deadline = time.monotonic() + STOP_GRACE
        for child, proc in live:
            proc.join(max(0.0, deadline - time.monotonic()))
            if proc.is_alive():
                proc.kill()
                proc.join()
                event(
                    log,
                    "child_killed",
                    logging.ERROR,
                    child_role=child.role,
                    index=child.index,
                    child_pid=proc.pid,
                    after_s=STOP_GRACE,
                )
        event(log, "supervisor_stopped")


FORK = multiprocessing.get_context("fork")
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


def _die_with_parent() -> None:
    """In a child, first thing: get SIGTERM when the supervisor dies."""
    if _LIBC is not None:
        _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


# --- the children ------------------------------------------------------------------------------


def _child_main(role: str, index: int, sock: socket.socket, beside_workers: bool) -> None:
    """A forked child of `serve`: the supervisor's signal handlers undone, an api process beside
    workers lowered in CPU priority, then its role."""
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    _die_with_parent()
    if role == API and beside_workers:
        os.nice(API_NICENESS)
    sys.exit(run_child(role, index, sock))


def run_child(role: str, index: int, sock: socket.socket) -> int:
    """Runs `role` (child 0 also runs the role's run-once duties) until SIGTERM; the exit code."""
    from sendhouse.bootstrap import build_container
    from sendhouse.config import Settings
    from sendhouse.observability import configure_logging

    configure_logging(role=role)
    container = build_container(Settings(), migrate=False)
    if role == WORKER:
        sock.close()
        return asyncio.run(run_duties(container, (WORKER,), first=index == 0))
    return serve_http(container, sock, first=index == 0)


def serve_http(container, sock: socket.socket, *, first: bool) -> int:
    """The api role on `sock` until SIGTERM or SIGINT: the app, with the api role's duties."""
    import uvicorn

    from sendhouse.app import create_app

    app = create_app(
        container.settings,
        container=container,
        background=[_closing, lambda c: start_duties(c, (API,), first=first)],
    )
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", proxy_headers=True, log_config=None))
    server.run(sockets=[sock])
    return 0 if server.started else STARTUP_FAILED


@asynccontextmanager
async def _closing(container):
    """Closes the container's database pools when the app stops."""
    try:
        yield
    finally:
        await container.close()
