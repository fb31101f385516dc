"""Idempotency-Key handling: the same key and body within 24 h replays the first response.

One pattern for every route that takes the header: `once(db, key, run)` looks for a stored
response (replay, or 409 IDEMPOTENCY_KEY_REUSED for another body), else runs the work, and the
work stores its response with `record(conn, key, data)` inside its own transaction. Nothing is
written before the work commits, so a failure anywhere (database error, client disconnect, any
exception, a crash) leaves no record behind and the client may simply retry. Two concurrent
requests with one key both run; the second one's insert hits the unique key, its transaction
rolls back and it replays the first one's response.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from sendhouse.domain import ids
from sendhouse.domain.times import utcnow
from sendhouse.errors import Conflict, InvalidInput
from sendhouse.store import idempotency as store
from sendhouse.store.db import Database

WINDOW = timedelta(hours=24)
MAX_KEY_LENGTH = 256
REPLAYED_HEADERS = {"Idempotent-Replayed": "true"}


@dataclass(frozen=True)
class Key:
    """One Idempotency-Key in its scope (the API key and route), with the request body's hash."""

    api_key_id: str
    project_id: str
    route: str
    key: str
    body_hash: str


@dataclass(frozen=True)
class Outcome:
    """The work's result, or the stored one when `replayed`."""

    data: Any
    replayed: bool = False

    @property
    def headers(self) -> dict[str, str]:
        return dict(REPLAYED_HEADERS) if self.replayed else {}


class _Taken(Exception):
    """Another request stored a response for this key while this one ran."""


def key_for(*, api_key_id: str, project_id: str, route: str, key: str | None, body: bytes) -> Key | None:
    """The Key of a request (None without the header); a key of the wrong length is refused."""
    if key is None:
        return None
    if not 1 <= len(key) <= MAX_KEY_LENGTH:
        raise InvalidInput.field("Idempotency-Key", "must be 1 to 256 characters")
    return Key(api_key_id, project_id, route, key, hashlib.sha256(body).hexdigest())


async def once(db: Database, key: Key | None, run: Callable[[Key | None], Awaitable[Any]]) -> Outcome:
    """Run `run(key)` once per key and body; `run` must call `record(conn, key, data)` in its transaction."""
    if key is None:
        return Outcome(await run(None))
    stored = await _stored(db, key)
    if stored is not None:
        return stored
    try:
        return Outcome(await run(key))
    except _Taken:
        stored = await _stored(db, key)
    if stored is None:  # the winner's record expired in between: practically never
        raise Conflict(
            "A request with this Idempotency-Key is still in progress", code="IDEMPOTENCY_KEY_IN_USE"
        )
    return stored


async def record(conn: AsyncConnection, key: Key | None, data: Any, *, status_code: int = 200) -> None:
    """Store the response of `key`'s work, inside the transaction that did the work."""
    if key is None:
        return
    now = utcnow()
    await store.delete_stale(conn, key.api_key_id, key.route, key.key, now - WINDOW)
    row = {
        "id": ids.new_id(),
        "api_key_id": key.api_key_id,
        "project_id": key.project_id,
        "route": key.route,
        "idem_key": key.key,
        "body_hash": key.body_hash,
        "created_at": now,
        "status_code": status_code,
        "response": data,
    }
    try:
        await store.insert(conn, row)
    except IntegrityError:
        raise _Taken() from None


async def _stored(db: Database, key: Key) -> Outcome | None:
    async with db.read(snapshot=False) as conn:
        found = await store.find(conn, key.api_key_id, key.route, key.key, utcnow() - WINDOW)
    if found is None or found["status_code"] is None:  # None: a claim left by an older version
        return None
    if found["body_hash"] != key.body_hash:
        raise Conflict(
            "This Idempotency-Key was already used with a different request body",
            code="IDEMPOTENCY_KEY_REUSED",
        )
    return Outcome(found["response"], replayed=True)
