"""Idempotency-Key handling: the same key and body within 24 h replays the first response.

A record is claimed before the work runs (so two concurrent requests with one key cannot both
run), completed with the response, or dropped when the work fails so the client may retry.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError

from sendhouse.domain import ids
from sendhouse.domain.times import utcnow
from sendhouse.errors import Conflict, InvalidInput
from sendhouse.store import idempotency as store
from sendhouse.store.db import Database

WINDOW = timedelta(hours=24)
MAX_KEY_LENGTH = 256


@dataclass(frozen=True)
class Replay:
    status_code: int
    response: Any


async def claim(db: Database, *, api_key_id: str, project_id: str, route: str, key: str, body: bytes) -> str | Replay:
    """Claim `key` for this request: returns a record id to complete later, or the stored Replay."""
    if not 1 <= len(key) <= MAX_KEY_LENGTH:
        raise InvalidInput.field("Idempotency-Key", "must be 1 to 256 characters")
    body_hash = hashlib.sha256(body).hexdigest()
    now = utcnow()
    async with db.write() as conn:
        found = await store.find(conn, api_key_id, route, key, now - WINDOW)
        if found is not None:
            return _replay_or_conflict(found, body_hash)
        await store.delete_scope(conn, api_key_id, route, key)  # an expired record
        record_id = ids.new_id()
        try:
            await store.insert(conn, {
                "id": record_id, "api_key_id": api_key_id, "project_id": project_id, "route": route,
                "idem_key": key, "body_hash": body_hash, "created_at": now,
            })
        except IntegrityError:
            raise _in_progress() from None
    return record_id


def _replay_or_conflict(found: dict, body_hash: str) -> Replay:
    if found["body_hash"] != body_hash:
        raise Conflict(
            "This Idempotency-Key was already used with a different request body", code="IDEMPOTENCY_KEY_REUSED"
        )
    if found["status_code"] is None:
        raise _in_progress()
    return Replay(found["status_code"], found["response"])


def _in_progress() -> Conflict:
    return Conflict("A request with this Idempotency-Key is still in progress", code="IDEMPOTENCY_KEY_IN_USE")


async def complete(db: Database, record_id: str, *, status_code: int, response: Any) -> None:
    async with db.write() as conn:
        await store.complete(conn, record_id, status_code, response)


async def abandon(db: Database, record_id: str) -> None:
    async with db.write() as conn:
        await store.delete(conn, record_id)
