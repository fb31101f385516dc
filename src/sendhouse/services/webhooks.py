"""Webhooks: the management use cases, `emit()` for the rest of the code, and the dispatcher.

`emit(conn, project_id, event_type, data, now=...)` runs inside the caller's transaction and
stores one delivery row per active webhook subscribed to the event, so an event exists exactly
when the change that caused it was committed. The dispatcher (a background part of
`sendhouse serve`/`worker`) claims due rows with a lease, posts them, and records the outcome;
a dispatcher killed between attempts loses nothing, and the next one continues the schedule.

The dispatcher is a bounded pool: up to `concurrency` attempts in flight, at most PER_WEBHOOK of
one endpoint and PER_PROJECT of one project, claimed round-robin across projects; a slot is refilled
as soon as its attempt ends (no waiting for a whole batch), and each attempt has a total deadline.
So an endpoint that answers slowly delays only its own deliveries.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from datetime import datetime, timedelta
from typing import Any

import orjson

from sendhouse.delivery.webhooks import WebhookSender
from sendhouse.domain import webhooks as rules
from sendhouse.domain.ids import new_id
from sendhouse.domain.pagination import Page
from sendhouse.domain.times import iso, utcnow
from sendhouse.errors import InvalidInput, InvalidOperation, NotFound
from sendhouse.store import webhooks as store
from sendhouse.store.db import Database, event_after_commit

log = logging.getLogger("sendhouse.webhooks")

MAX_WEBHOOKS_PER_PROJECT = 100
MAX_METADATA_BYTES = 16 * 1024
MAX_RESEND_BYTES = 256 * 1024
LEASE = timedelta(seconds=60)
PRUNE_EVERY = timedelta(minutes=5)


def _invalid(field: str, message: str) -> InvalidInput:
    return InvalidInput.field(field, message, code="VALIDATION_ERROR")


def _not_found() -> NotFound:
    return NotFound("Webhook not found", code="WEBHOOK_NOT_FOUND")


# --- presentation ---------------------------------------------------------------------------


def present_webhook(row: dict, *, secret: str | None = None) -> dict:
    """AutoSend's webhook object; the secret is masked unless given (only at creation)."""
    return {
        "id": row["id"],
        "organizationId": row["organization_id"],
        "projectId": row["project_id"],
        "url": row["url"],
        "secret": secret or rules.HIDDEN_SECRET,
        "events": list(row["events"]),
        "isActive": row["is_active"],
        "status": row["status"],
        "failureCount": row["failure_count"],
        "lastFailedAt": iso(row["last_failed_at"]),
        "lastSuccessAt": iso(row["last_success_at"]),
        "lastDeliveredAt": iso(row["last_delivered_at"]),
        "metadata": row["metadata"],
        "createdAt": iso(row["created_at"]),
        "updatedAt": iso(row["updated_at"]),
    }


def present_log(row: dict) -> dict:
    """AutoSend's delivery log entry (plus `status`: pending, delivering, succeeded or failed)."""
    return {
        "_id": row["id"],
        "webhookId": row["webhook_id"],
        "projectId": row["project_id"],
        "event": row["event"],
        "url": row["url"],
        "statusCode": row["status_code"],
        "success": row["status"] == "succeeded",
        "status": row["status"],
        "attempts": row["attempts"],
        "duration": row["duration_ms"],
        "errorMessage": row["error_message"],
        "deliveredAt": iso(row["delivered_at"]),
        "createdAt": iso(row["created_at"]),
        "updatedAt": iso(row["updated_at"]),
    }


def _listing(key: str, items: list[dict], total: int, page: Page) -> dict:
    pages = (total + page.limit - 1) // page.limit
    return {key: items, "total": total, "page": page.page, "limit": page.limit, "totalPages": pages}


# --- validation -----------------------------------------------------------------------------


def _check_url(url: str) -> str:
    problem = rules.url_problem(url.strip())
    if problem:
        raise _invalid("url", problem)
    return url.strip()


def _check_events(events: list[str]) -> list[str]:
    problem = rules.events_problem(events)
    if problem:
        raise _invalid("events", problem)
    return list(dict.fromkeys(events))


def _check_metadata(metadata: dict | None) -> dict | None:
    if metadata is not None and len(orjson.dumps(metadata)) > MAX_METADATA_BYTES:
        raise _invalid("metadata", f"metadata must be at most {MAX_METADATA_BYTES} bytes as JSON")
    return metadata


# --- management -----------------------------------------------------------------------------


def available_events() -> list[str]:
    return list(rules.EVENTS)


async def create_webhook(
    db: Database, project_id: str, *, url: str, events: list[str], metadata: dict | None = None
) -> dict:
    """Create a webhook; the returned object is the only one that shows the secret."""
    row: dict[str, Any] = {
        "id": new_id(),
        "url": _check_url(url),
        "events": _check_events(events),
        "metadata": _check_metadata(metadata),
        "secret": rules.new_secret(),
        "is_active": True,
        "status": "active",
        "failure_count": 0,
        "created_at": utcnow(),
        "updated_at": utcnow(),
    }
    async with db.write() as conn:
        row["organization_id"] = await store.lock_project(conn, project_id)
        if await store.count_webhooks(conn, project_id) >= MAX_WEBHOOKS_PER_PROJECT:
            raise InvalidOperation(
                f"A project can have at most {MAX_WEBHOOKS_PER_PROJECT} webhooks",
                code="WEBHOOK_LIMIT_REACHED",
            )
        await store.insert_webhook(conn, {**row, "project_id": project_id})
        created = await store.get_webhook(conn, project_id, row["id"])
    assert created is not None  # inserted just above
    return present_webhook(created, secret=row["secret"])


async def list_webhooks(db: Database, project_id: str, *, is_active: bool | None, page: Page) -> dict:
    async with db.read() as conn:
        rows, total = await store.list_webhooks(
            conn, project_id, is_active=is_active, offset=page.offset, limit=page.limit
        )
    return _listing("webhooks", [present_webhook(r) for r in rows], total, page)


async def _get_row(conn, project_id: str, webhook_id: str) -> dict:
    row = await store.get_webhook(conn, project_id, webhook_id)
    if row is None:
        raise _not_found()
    return row


async def get_webhook(db: Database, project_id: str, webhook_id: str) -> dict:
    async with db.read() as conn:
        return present_webhook(await _get_row(conn, project_id, webhook_id))


def _changes(url: str | None, events: list[str] | None, is_active: bool | None) -> dict[str, Any]:
    values: dict[str, Any] = {"updated_at": utcnow()}
    if url is not None:
        values["url"] = _check_url(url)
    if events is not None:
        values["events"] = _check_events(events)
    if is_active is not None:
        values.update(is_active=is_active, status="active" if is_active else "inactive")
    return values


async def update_webhook(
    db: Database,
    project_id: str,
    webhook_id: str,
    *,
    url: str | None = None,
    events: list[str] | None = None,
    is_active: bool | None = None,
) -> dict:
    """Change url, events (the list is replaced) or isActive; re-activating resets failureCount."""
    values = _changes(url, events, is_active)
    async with db.write() as conn:
        if not await store.update_webhook(conn, project_id, webhook_id, values):
            raise _not_found()
        return present_webhook(await _get_row(conn, project_id, webhook_id))


async def delete_webhook(db: Database, project_id: str, webhook_id: str) -> None:
    async with db.write() as conn:
        if not await store.delete_webhook(conn, project_id, webhook_id):
            raise _not_found()


async def list_logs(db: Database, project_id: str, webhook_id: str, *, page: Page) -> dict:
    async with db.read() as conn:
        await _get_row(conn, project_id, webhook_id)
        rows, total = await store.list_deliveries(conn, webhook_id, offset=page.offset, limit=page.limit)
    return _listing("logs", [present_log(r) for r in rows], total, page)


async def reveal_secret(db: Database, project_id: str, webhook_id: str) -> str:
    async with db.read() as conn:
        return (await _get_row(conn, project_id, webhook_id))["secret"]


async def resend(db: Database, project_id: str, webhook_id: str, *, event: str, data: dict) -> str:
    """Queue one delivery of `{type: event, data}` to this webhook; returns its id (the jobId)."""
    if event not in rules.EVENTS:
        raise _invalid("event", f"unknown event {event!r}")
    now = utcnow()
    body = rules.envelope(event, data, now)
    if len(body) > MAX_RESEND_BYTES:
        raise _invalid("data", f"data must be at most {MAX_RESEND_BYTES} bytes as JSON")
    async with db.write() as conn:
        row = await _get_row(conn, project_id, webhook_id)
        if event not in row["events"]:
            raise InvalidOperation(f"The webhook is not subscribed to {event}", code="WEBHOOK_NOT_SUBSCRIBED")
        if not row["is_active"]:
            raise InvalidOperation("The webhook is inactive; activate it first", code="WEBHOOK_INACTIVE")
        delivery = _delivery_row(webhook_id, project_id, event, body, now)
        await store.insert_deliveries(conn, [delivery])
    return delivery["id"]


# --- emission -------------------------------------------------------------------------------


def _delivery_row(webhook_id: str, project_id: str, event: str, body: bytes, now: datetime) -> dict:
    return {
        "id": new_id(),
        "webhook_id": webhook_id,
        "project_id": project_id,
        "event": event,
        "payload": body,
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
        "updated_at": now,
    }


class Subscriptions:
    """The active webhooks of some projects, looked up once for a whole transaction's events."""

    def __init__(self, hooks: dict[str, list[dict]]):
        self.hooks = hooks

    def wants(self, project_id: str, event_type: str) -> bool:
        """Whether some active webhook of the project is subscribed to the event."""
        return any(event_type in hook["events"] for hook in self.hooks.get(project_id, ()))

    def deliveries(self, project_id: str, event_type: str, data: dict, now: datetime) -> list[dict]:
        """The delivery rows of one event: one per subscribed webhook."""
        if event_type not in rules.EVENTS:
            raise InvalidInput.field("event", f"unknown webhook event {event_type!r}")
        if project_id not in self.hooks:
            raise ValueError(f"the webhooks of project {project_id} were not looked up")
        hooks = [h for h in self.hooks[project_id] if event_type in h["events"]]
        if not hooks:
            return []
        body = rules.envelope(event_type, data, now)
        return [_delivery_row(h["id"], project_id, event_type, body, now) for h in hooks]


async def subscriptions(conn, project_ids) -> Subscriptions:
    """The active webhooks of these projects, in one lookup."""
    return Subscriptions(await store.active_webhooks_of(conn, sorted(set(project_ids))))


async def emit(
    conn,
    project_id: str,
    event_type: str,
    data: dict,
    *,
    now: datetime,
    subscribed: Subscriptions | None = None,
) -> None:
    """Store the event for every active webhook of the project subscribed to it (caller's transaction).
    `subscribed`: the subscriptions already looked up in this transaction (no new lookup)."""
    await emit_many(conn, [(project_id, event_type, data)], now=now, subscribed=subscribed)


async def emit_many(
    conn, events: list[tuple[str, str, dict]], *, now: datetime, subscribed: Subscriptions | None = None
) -> None:
    """emit() for many (project_id, event_type, data): at most one lookup, one multi-row insert."""
    if subscribed is None:
        subscribed = await subscriptions(conn, [project_id for project_id, _e, _d in events])
    rows = [
        row
        for project_id, event_type, data in events
        for row in subscribed.deliveries(project_id, event_type, data, now)
    ]
    await store.insert_deliveries(conn, rows)


CONTACT_COLUMNS = {
    "email": "email",
    "first_name": "firstName",
    "last_name": "lastName",
    "user_id": "userId",
    "mobile": "mobile",
}


def contact_changes(before: dict, after: dict) -> list[str]:
    """The API names of the contact fields that differ (custom fields as `customFields.<key>`)."""
    changed = [name for column, name in CONTACT_COLUMNS.items() if before.get(column) != after.get(column)]
    old, new = before.get("custom_fields") or {}, after.get("custom_fields") or {}
    return changed + [f"customFields.{k}" for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]


def _contact_event(before: dict | None, after: dict | None) -> tuple[str, dict] | None:
    """(event, data) of a contact change, or None when nothing changed."""
    row = after or before
    if row is None:
        return None
    changed = contact_changes(before, after) if before and after else []
    if before and after and not changed:
        return None
    event = "contact.created" if before is None else "contact.deleted" if after is None else "contact.updated"
    name = " ".join(p for p in (row.get("first_name"), row.get("last_name")) if p) or None
    return event, rules.contact_data(
        event, contact_id=row["id"], email=row["email"], name=name, changed_fields=changed
    )


async def emit_contact_change(
    conn, before: dict | None, after: dict | None, *, now: datetime | None = None
) -> None:
    """contact.created (no `before`), contact.deleted (no `after`) or contact.updated with changedFields
    (nothing when nothing changed), from contact rows, inside the caller's transaction."""
    found = _contact_event(before, after)
    if found is not None:
        await emit(conn, (after or before or {})["project_id"], found[0], found[1], now=now or utcnow())


async def subscribed_events(conn, project_id: str) -> set[str]:
    """The events some active webhook of the project is subscribed to."""
    return {event for hook in await store.active_webhooks(conn, project_id) for event in hook["events"]}


async def emit_contact_changes(
    conn, project_id: str, pairs: Sequence[tuple[dict | None, dict | None]], *, now: datetime | None = None
) -> None:
    """`emit_contact_change` for many (before, after) pairs: one webhook lookup, one multi-row insert."""
    hooks = await store.active_webhooks(conn, project_id) if pairs else []
    if not any(set(rules.CONTACT_EVENTS) & set(h["events"]) for h in hooks):
        return
    now, rows = now or utcnow(), []
    for event, data in filter(None, (_contact_event(b, a) for b, a in pairs)):
        body = rules.envelope(event, data, now)
        rows += [_delivery_row(h["id"], project_id, event, body, now) for h in hooks if event in h["events"]]
    await store.insert_deliveries(conn, rows)


# --- dispatch -------------------------------------------------------------------------------

PER_WEBHOOK = 4
PER_PROJECT = 8


class Dispatcher:
    """Claims due deliveries with a lease into a bounded pool of attempts, records each outcome and the retry."""

    def __init__(
        self,
        db: Database,
        *,
        allow_private: bool,
        retry_schedule: str,
        batch: int = 20,
        concurrency: int = 32,
        timeout: float = 10.0,
    ):
        self.db, self.batch, self.owner, self.concurrency = db, batch, new_id(), concurrency
        self.schedule = rules.parse_retry_schedule(retry_schedule)
        self.sender = WebhookSender(allow_private=allow_private, timeout=timeout)
        self.in_flight: dict[str, tuple[str, str]] = {}  # delivery id -> (webhook id, project id)
        self._tasks: set[asyncio.Task] = set()
        self.slot_freed = asyncio.Event()

    async def run_once(self, now: datetime | None = None) -> int:
        """Attempt the deliveries due at `now` (up to one batch) and wait for them; returns how many."""
        tasks = await self.fill(now, limit=self.batch)
        await asyncio.gather(*tasks)
        return len(tasks)

    async def fill(self, now: datetime | None = None, *, limit: int | None = None) -> list[asyncio.Task]:
        """Claim due deliveries into the pool's free slots and start their attempts (not awaited)."""
        now = now or utcnow()
        free = min(limit or self.concurrency, self.concurrency - len(self.in_flight))
        if free <= 0:
            return []
        async with self.db.write() as conn:
            rows = await store.claim_due(
                conn, owner=self.owner, now=now, lease_until=now + LEASE, capacity=self._capacity(free)
            )
        return [self._start(row, now) for row in rows]

    def _capacity(self, free: int) -> store.Capacity:
        webhooks_busy: dict[str, int] = {}
        projects_busy: dict[str, int] = {}
        for webhook_id, project_id in self.in_flight.values():
            webhooks_busy[webhook_id] = webhooks_busy.get(webhook_id, 0) + 1
            projects_busy[project_id] = projects_busy.get(project_id, 0) + 1
        return store.Capacity(free, PER_WEBHOOK, PER_PROJECT, webhooks_busy, projects_busy)

    def _start(self, row: dict, now: datetime) -> asyncio.Task:
        self.in_flight[row["id"]] = (row["webhook_id"], row["project_id"])
        task = asyncio.create_task(self._attempt_guarded(row, now), name=f"webhook-{row['id']}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _attempt_guarded(self, row: dict, now: datetime) -> None:
        try:
            await self._attempt(row, now)
        except Exception:  # the lease expires and another pass retries it
            log.exception("webhook attempt not recorded", extra={"action": "webhook_dispatch"})
        finally:
            self.in_flight.pop(row["id"], None)
            self.slot_freed.set()

    async def _attempt(self, row: dict, now: datetime) -> None:
        headers = rules.delivery_headers(
            secret=row["secret"], delivery_id=row["id"], event=row["event"], body=row["payload"], now=now
        )
        outcome = await self.sender.post(row["target_url"], row["payload"], headers)
        values, final = self._outcome_values(row, outcome, now)
        async with self.db.write() as conn:
            if not await store.finish_attempt(conn, row["id"], self.owner, values):
                return
            if final:
                await store.mark_webhook(conn, row["webhook_id"], success=outcome.ok, now=now)
            _log_attempt(row, outcome, values)

    def _outcome_values(self, row: dict, outcome, now: datetime) -> tuple[dict, bool]:
        attempts = row["attempts"] + 1
        values: dict[str, Any] = {
            "url": row["target_url"],
            "status_code": outcome.status_code,
            "error_message": outcome.error,
            "duration_ms": outcome.duration_ms,
            "updated_at": now,
        }
        if outcome.ok:
            return {**values, "status": "succeeded", "delivered_at": now, "finished_at": now}, True
        if attempts > len(self.schedule):
            return {**values, "status": "failed", "finished_at": now}, True
        retry_at = now + timedelta(seconds=self.schedule[attempts - 1])
        return {**values, "status": "pending", "next_attempt_at": retry_at}, False

    async def prune(self, now: datetime | None = None) -> int:
        async with self.db.write() as conn:
            return await store.prune(conn, now or utcnow())

    async def close(self) -> None:
        """Stop the attempts in flight, give back their leases (they are attempted again later, with
        the same delivery id) and close the connection pool."""
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        async with self.db.write() as conn:
            await store.release(conn, self.owner)
        await self.sender.aclose()


def _log_attempt(row: dict, outcome, values: dict) -> None:
    """webhook_delivered or webhook_failed (with whether it is final), after the attempt's commit."""
    fields = {
        "delivery_id": row["id"],
        "webhook_id": row["webhook_id"],
        "project_id": row["project_id"],
        "event": row["event"],
        "attempt": row["attempts"] + 1,
        "status_code": outcome.status_code,
        "duration_ms": outcome.duration_ms,
    }
    if outcome.ok:
        event_after_commit(log, "webhook_delivered", **fields)
        return
    event_after_commit(
        log,
        "webhook_failed",
        logging.WARNING,
        **fields,
        error=outcome.error,
        final=values["status"] == "failed",
        retry_at=iso(values.get("next_attempt_at")),
    )


async def _loop(dispatcher: Dispatcher, stop: asyncio.Event, poll_interval: float) -> None:
    last_prune = None
    while not stop.is_set():
        started = []
        try:
            dispatcher.slot_freed.clear()
            started = await dispatcher.fill()
            if last_prune is None or utcnow() - last_prune >= PRUNE_EVERY:
                await dispatcher.prune()
                last_prune = utcnow()
        except Exception:
            log.exception("webhook dispatch failed", extra={"action": "webhook_dispatch"})
        if not started:
            await _wait_for_work(dispatcher, stop, poll_interval)


async def _wait_for_work(dispatcher: Dispatcher, stop: asyncio.Event, poll_interval: float) -> None:
    """Until the poll interval passes, the server stops, or an attempt in flight ends."""
    waits = [asyncio.ensure_future(stop.wait())]
    if dispatcher.in_flight:
        waits.append(asyncio.ensure_future(dispatcher.slot_freed.wait()))
    try:
        await asyncio.wait(waits, timeout=poll_interval, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiting in waits:
            waiting.cancel()


@contextlib.asynccontextmanager
async def dispatcher_part(container, *, poll_interval: float = 1.0) -> AsyncIterator[Dispatcher]:
    """The background part: runs the dispatch loop until the server stops."""
    settings = container.settings
    dispatcher = Dispatcher(
        container.db,
        allow_private=settings.webhook_allow_private,
        retry_schedule=settings.webhook_retry_schedule,
        concurrency=settings.webhook_concurrency,
        timeout=settings.webhook_timeout,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(_loop(dispatcher, stop, poll_interval), name="webhook-dispatcher")
    try:
        yield dispatcher
    finally:
        stop.set()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await dispatcher.close()
