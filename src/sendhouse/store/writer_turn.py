"""SQLite writers of several processes take turns on one file lock instead of polling.

SQLite lets one writer in at a time. A second process's BEGIN IMMEDIATE finds the database locked
and its busy handler sleeps 1, 2, 5, 10, ... up to 100 ms between tries, so with two worker
processes (`sendhouse serve` on a 2-core machine) every write that meets another one loses
milliseconds after the lock is already free, and the senders waiting for that write stall with it.
WriterTurn queues the writers of our processes on an exclusive flock of `<database>-locks/writer.lock`
instead: the kernel wakes the next one the moment the holder lets go.

The lock only orders our own writers; correctness still rests on SQLite's lock. A writer that has
waited `timeout` seconds for its turn goes on without it (SQLite's busy timeout then decides, as
before), and a process that dies lets go of its turn with its file descriptors.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import weakref
from collections.abc import AsyncIterator
from pathlib import Path

from sqlalchemy.engine import make_url


class WriterTurn:
    """One writer at a time across processes: `async with turn.taken(): ...` around a transaction."""

    def __init__(self, path: Path, timeout: float):
        self.path, self.timeout = path, timeout
        self._fd: int | None = None
        self._pid = 0
        self._queues: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )

    def _descriptor(self) -> int:
        """The lock file, opened once per process (a forked child must not share its parent's lock)."""
        if self._fd is None or self._pid != os.getpid():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd, self._pid = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600), os.getpid()
            self._queues = weakref.WeakKeyDictionary()
        return self._fd

    def _queue_here(self) -> asyncio.Lock:
        """This event loop's writers wait here, so one of them at a time waits on the file."""
        return self._queues.setdefault(asyncio.get_running_loop(), asyncio.Lock())

    @contextlib.asynccontextmanager
    async def taken(self) -> AsyncIterator[None]:
        fd = self._descriptor()
        async with self._queue_here():
            held = await self._take(fd)
            try:
                yield
            finally:
                if held:
                    fcntl.flock(fd, fcntl.LOCK_UN)

    async def _take(self, fd: int) -> bool:
        """True once the turn is ours; False after `timeout` seconds (go on without it)."""
        with contextlib.suppress(BlockingIOError):
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        waiting = asyncio.get_running_loop().run_in_executor(None, fcntl.flock, fd, fcntl.LOCK_EX)
        try:
            await asyncio.wait_for(asyncio.shield(waiting), self.timeout)
        except TimeoutError:
            _let_go_once_taken(waiting, fd)
            return False
        except asyncio.CancelledError:
            _let_go_once_taken(waiting, fd)
            raise
        return True


def _let_go_once_taken(waiting: asyncio.Future, fd: int) -> None:
    """The thread still waiting on the file takes the lock some day: let go of it then."""
    waiting.add_done_callback(lambda _taken: fcntl.flock(fd, fcntl.LOCK_UN))


def writer_turn_of(url: str, timeout: float) -> WriterTurn | None:
    """The turn of a SQLite database file (None for an in-memory database)."""
    database = make_url(url).database
    if not database or database == ":memory:":
        return None
    return WriterTurn(Path(f"{database}-locks") / "writer.lock", timeout)
