"""Opens and clicks: the recorder behind the tracking endpoints.

- Recorder: the tracking endpoints hand it verified hits (a row id, and the URL of a click) and
  answer at once; it writes them in batches (one transaction per batch, every FLUSH_EVERY seconds
  or MAX_BATCH hits), marks opens within settings.automated_open_window of the row's sent_at as
  automated, and records them through services/feedback.record (events, email.opened and
  email.clicked). Batches are small (short pauses of the event loop) unless a backlog built up.
  `close()` writes whatever is left, so a clean shutdown loses nothing; a failing database only
  costs the hits of that moment.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import NamedTuple

from sendhouse.domain.fates import Clicked, Opened
from sendhouse.domain.times import utcnow
from sendhouse.services import feedback
from sendhouse.store import events as store
from sendhouse.store.db import Database

log = logging.getLogger("sendhouse.tracking")
FLUSH_EVERY = 0.1
MAX_BATCH = 100  # small batches keep each pause of the event loop short (pixel p99)
BACKLOG, BACKLOG_BATCH = 5000, 300  # behind by this much: bigger batches catch up faster
MAX_BUFFER = 200_000
MAX_TRIES = 3


class Hit(NamedTuple):
    """One verified open (url None) or click. A tuple of atomic values, so the garbage collector
    stops tracking it: a full buffer adds no work to (and no pauses from) collections."""

    message_id: str
    at: datetime
    url: str | None = None
    tries: int = 0


class Recorder:
    """Buffers tracking hits in memory and writes them in batches."""

    def __init__(self, db: Database, *, automated_window: float):
        self.db, self.window = db, timedelta(seconds=automated_window)
        self.buffer: list[Hit] = []
        self.dropped = 0
        self._lock = asyncio.Lock()

    def add(self, hit: Hit) -> None:
        """Queue a hit; beyond MAX_BUFFER waiting hits (the database cannot keep up) it is dropped."""
        if len(self.buffer) >= MAX_BUFFER:
            if not self.dropped % 10_000:
                log.warning(
                    "tracking backlog full (%d hits waiting); %d hits dropped so far",
                    MAX_BUFFER,
                    self.dropped + 1,
                )
            self.dropped += 1
            return
        self.buffer.append(hit)

    async def flush(self) -> int:
        """Write every buffered hit; how many were recorded."""
        written = 0
        async with self._lock:
            while self.buffer:
                size = MAX_BATCH if len(self.buffer) < BACKLOG else BACKLOG_BATCH
                batch, self.buffer = self.buffer[:size], self.buffer[size:]
                written += await self._write_or_keep(batch)
                await asyncio.sleep(0)  # let requests waiting on the loop through between batches
        return written

    async def _write_or_keep(self, batch: list[Hit]) -> int:
        try:
            return await self._write(batch)
        except Exception:
            log.exception("recording %d tracking hits failed", len(batch))
            retry = [h._replace(tries=h.tries + 1) for h in batch if h.tries + 1 < MAX_TRIES]
            self.dropped += len(batch) - len(retry)
            self.buffer = retry + self.buffer
            if retry:
                raise
            return 0

    async def _write(self, batch: list[Hit]) -> int:
        async with self.db.write() as conn:
            rows = await store.message_rows(conn, [h.message_id for h in batch])
            hits = [self._fate(h, rows[h.message_id]) for h in batch if h.message_id in rows]
            await feedback.record(conn, hits, now=utcnow())
        return len(hits)

    def _fate(self, hit: Hit, row: dict) -> Opened | Clicked:
        if hit.url is not None:
            return Clicked(row, when=hit.at, url=hit.url)
        automated = row["sent_at"] is not None and hit.at - row["sent_at"] < self.window
        return Opened(row, when=hit.at, automated=automated)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), FLUSH_EVERY)
            with contextlib.suppress(Exception):
                await self.flush()

    async def close(self) -> None:
        """Write what is left (a clean shutdown loses nothing that can be written)."""
        for _ in range(MAX_TRIES):
            try:
                await self.flush()
                return
            except Exception:  # noqa: BLE001 - each failed attempt keeps the hits for the next one
                log.warning("flushing tracking hits at shutdown failed; %d left", len(self.buffer))


@contextlib.asynccontextmanager
async def recorder_part(db: Database, *, automated_window: float) -> AsyncIterator[Recorder]:
    """A running Recorder for the life of the block; flushed on the way out."""
    recorder = Recorder(db, automated_window=automated_window)
    stop = asyncio.Event()
    task = asyncio.create_task(recorder.run(stop), name="tracking-recorder")
    try:
        yield recorder
    finally:
        stop.set()
        await task
        await recorder.close()
