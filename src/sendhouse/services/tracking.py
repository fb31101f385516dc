"""Opens and clicks, and the email.* webhooks of the feedback loop.

- Recorder: the tracking endpoints hand it verified hits (a row id, and the URL of a click) and
  answer at once; it writes them in batches (one transaction per batch, every FLUSH_EVERY seconds
  or MAX_BATCH hits), marks opens within settings.automated_open_window of the row's sent_at as
  automated, and emits email.opened / email.clicked. Batches are small (short pauses of the event
  loop) unless a backlog built up. `close()` writes whatever is left, so a
  clean shutdown loses nothing; a failing database only costs the hits of that moment.
- EmailEvents: builds AutoSend's email.* payloads (from, to, subject, campaign/template/batch
  ids) for ledger rows, only for projects that have a webhook subscribed to the event.
- emit_send_results: email.sent + email.delivered for rows the relay accepted, email.deferred for
  rows that will be retried (called by services/sending.py inside its recording transaction).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import NamedTuple

from sendhouse.domain import ids
from sendhouse.domain import webhooks as hooks
from sendhouse.domain.times import iso, utcnow
from sendhouse.services import webhooks as webhook_service
from sendhouse.store import events as store
from sendhouse.store import webhooks as webhook_store
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
                log.warning("tracking backlog full (%d hits waiting); %d hits dropped so far", MAX_BUFFER, self.dropped + 1)
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
        now = utcnow()
        async with self.db.write() as conn:
            rows = await store.message_rows(conn, [h.message_id for h in batch])
            events = [self._event(h, rows[h.message_id]) for h in batch if h.message_id in rows]
            await store.insert_events(conn, events)
            emitter = EmailEvents(conn, now)
            for event in events:
                await _emit_hit(emitter, event, rows[event["message_id"]])
        return len(events)

    def _event(self, hit: Hit, row: dict) -> dict:
        automated = hit.url is None and row["sent_at"] is not None and hit.at - row["sent_at"] < self.window
        return {"id": ids.new_id(), "project_id": row["project_id"], "message_id": row["id"],
                "campaign_id": row["campaign_id"], "email": row["email"],
                "type": "opened" if hit.url is None else "clicked", "url": hit.url,
                "is_automated": automated, "detail": None, "created_at": hit.at}

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


async def _emit_hit(emitter: EmailEvents, event: dict, row: dict) -> None:
    if event["type"] == "clicked":
        await emitter.emit("email.clicked", row, clickedUrl=event["url"])
    elif not event["is_automated"]:
        await emitter.emit("email.opened", row)


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


# --- email.* webhooks -----------------------------------------------------------------------


class EmailEvents:
    """Emits email.* events for ledger rows inside one transaction, caching what it looks up."""

    def __init__(self, conn, now: datetime):
        self.conn, self.now = conn, now
        self._subscribed: dict[str, set[str]] = {}
        self._context: dict[str, dict] = {}

    async def wants(self, project_id: str, event: str) -> bool:
        if project_id not in self._subscribed:
            found = await webhook_store.active_webhooks(self.conn, project_id)
            self._subscribed[project_id] = {e for h in found for e in h["events"]}
        return event in self._subscribed[project_id]

    async def emit(self, event: str, row: dict, **extra) -> None:
        """Emit `event` for the ledger row (skipped when no webhook of its project wants it)."""
        if not await self.wants(row["project_id"], event):
            return
        context = await self.context(row)
        email_id = row["id"] if row.get("campaign_id") else context["emailId"]
        data = hooks.email_data(event, email_id=email_id, from_email=context["from"],
                                to_email=row["email"], to_name=row.get("name"), subject=context["subject"],
                                campaign_id=row.get("campaign_id"), template_id=context["templateId"],
                                workflow_automation_id=context.get("workflowAutomationId"),
                                batch_id=row.get("batch_id") or context.get("batchId"), **extra)
        await webhook_service.emit(self.conn, row["project_id"], event, data, now=self.now)

    async def context(self, row: dict) -> dict:
        """{emailId, from, subject, templateId, groupCode} of a campaign or transactional row."""
        key = row["campaign_id"] or row["id"]
        if key not in self._context:
            self._context[key] = await message_context(self.conn, row)
        return self._context[key]


async def message_context(conn, row: dict) -> dict:
    """What the webhooks and unsubscribes of a ledger row need to know of its content."""
    if row.get("campaign_id"):
        campaign = await store.campaign_context(conn, row["campaign_id"]) or {}
        return {"emailId": row["id"], "from": campaign.get("from_email") or "", "subject": campaign.get("subject") or "",
                "templateId": campaign.get("template_id"), "groupCode": campaign.get("unsubscribe_group_id")}
    payload = await store.payload_of(conn, row["id"])
    content = payload.get("content")
    if content is None and payload.get("contentRowId"):
        content = (await store.payload_of(conn, payload["contentRowId"])).get("content")
    content = content or {}
    return {"emailId": payload.get("emailId") or row["id"], "from": (content.get("from") or {}).get("email") or "",
            "subject": content.get("subject") or "", "templateId": content.get("templateId"),
            "groupCode": content.get("unsubscribeGroupId"), "batchId": content.get("batchId"),
            "workflowAutomationId": payload.get("workflowAutomationId")}


async def emit_send_results(conn, *, sent: list[dict], deferred: list[tuple[dict, dict]], now: datetime) -> None:
    """email.sent and email.delivered for accepted rows; email.deferred ({row}, {error, retry_at}) for retries."""
    emitter = EmailEvents(conn, now)
    for row in sent:
        await emitter.emit("email.sent", row)
        await emitter.emit("email.delivered", row)
    for row, item in deferred:
        await emitter.emit("email.deferred", row, delayType=_delay_type(item["error"]),
                           delayReason=item["error"], expirationTime=iso(item["retry_at"]))


def _delay_type(error: str) -> str:
    """AutoSend's delayType from the relay's reply."""
    if "4.2.2" in error or "452" in error[:4]:
        return "MailboxFull"
    if error[:1] == "4":
        return "TransientCommunicationFailure"
    return "InternalFailure"
