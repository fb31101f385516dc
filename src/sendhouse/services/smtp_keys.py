"""SMTP submission keys: per-project passwords for AUTH on the submission server, separate from
API keys (an API key is refused there, an SMTP key is refused by the API). Only the SHA-256 of a
key is stored; the secret is shown once. Revoked keys stop working at the next AUTH."""

from __future__ import annotations

import hmac

from sendhouse.domain import ids
from sendhouse.domain.times import iso, utcnow
from sendhouse.errors import NotFound
from sendhouse.store import inbound as store
from sendhouse.store import projects as project_store
from sendhouse.store.db import Database


def present_key(row: dict) -> dict:
    return {
        "id": row["id"],
        "name": row["name"],
        "prefix": row["prefix"],
        "createdAt": iso(row["created_at"]),
        "lastUsedAt": iso(row["last_used_at"]),
    }


async def create_key(db: Database, *, project_id: str, name: str = "") -> tuple[dict, str]:
    """A new SMTP key of the project; (row, secret) — the secret is not kept."""
    secret = ids.new_api_key(account=False)
    row = {
        "id": ids.new_id(),
        "project_id": project_id,
        "key_hash": ids.hash_api_key(secret),
        "prefix": secret[:8],
        "name": name,
        "created_at": utcnow(),
        "last_used_at": None,
        "revoked_at": None,
    }
    async with db.write() as conn:
        if await project_store.get_project(conn, project_id) is None:
            raise NotFound("Project not found", code="PROJECT_NOT_FOUND")
        await store.insert_smtp_key(conn, row)
    return row, secret


async def list_keys(db: Database, project_id: str) -> list[dict]:
    async with db.read() as conn:
        return [present_key(r) for r in await store.list_smtp_keys(conn, project_id)]


async def revoke_key(db: Database, *, project_id: str, key_id: str) -> None:
    async with db.write() as conn:
        if not await store.revoke_smtp_key(conn, project_id, key_id, utcnow()):
            raise NotFound("SMTP key not found", code="SMTP_KEY_NOT_FOUND")


async def authenticate(db: Database, password: str) -> dict | None:
    """The live key whose secret is `password` (its last use recorded), or None."""
    if not password or len(password) > 200:
        return None
    digest = ids.hash_api_key(password)
    async with db.write() as conn:
        row = await store.smtp_key_by_hash(conn, digest)
        if row is None or not hmac.compare_digest(row["key_hash"], digest):
            return None
        await store.touch_smtp_key(conn, row["id"], utcnow())
    return row
