"""Dashboard sessions on the server: started at login, looked up on every page, revoked at logout
and when the password changes (every session of the user, in every browser).

The browser's signed cookie carries only a random token; the database keeps its SHA-256, the user
and the expiry (SESSION_DAYS), so a copied cookie stops working as soon as its session is revoked.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from datetime import timedelta

from sendhouse.domain import ids
from sendhouse.domain.times import utcnow
from sendhouse.errors import Unauthorized
from sendhouse.services import users as user_service
from sendhouse.store import users as store
from sendhouse.store.db import Database

SESSION_DAYS = 14


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def start(db: Database, user_id: str) -> str:
    """A new session of the user; returns its token (for the cookie)."""
    async with db.write() as conn:
        return await _start(conn, user_id)


async def _start(conn, user_id: str) -> str:
    token, now = secrets.token_urlsafe(32), utcnow()
    await store.forget_old_sessions(conn, now)  # keeps the table to the sessions still alive
    await store.insert_session(
        conn,
        {
            "id": ids.new_id(),
            "user_id": user_id,
            "token_hash": _hash(token),
            "created_at": now,
            "expires_at": now + timedelta(days=SESSION_DAYS),
        },
    )
    return token


async def user_id_of(db: Database, token: object) -> str | None:
    """The user of a live session token, else None (unknown, revoked, expired or not a token)."""
    if not isinstance(token, str) or not token:
        return None
    async with db.read() as conn:
        return await store.session_user_id(conn, _hash(token), utcnow())


async def end(db: Database, token: object) -> None:
    """Revoke one session (logout)."""
    if isinstance(token, str) and token:
        async with db.write() as conn:
            await store.revoke_session(conn, _hash(token), utcnow())


async def change_password(db: Database, user_id: str, current: str, new: str) -> str:
    """Check the current password, store the new one, revoke every session of the user and return
    the token of a fresh one for the browser that made the change."""
    new = user_service.check_password(new)
    async with db.read() as conn:
        row = await store.get_user(conn, user_id)
    if row is None or not await asyncio.to_thread(
        user_service.verify_password, row["password_hash"], current
    ):
        raise Unauthorized("The current password is wrong", code="INVALID_CREDENTIALS")
    hashed = await asyncio.to_thread(user_service.hash_password, new)
    async with db.write() as conn:
        await store.set_password_hash(conn, user_id, hashed)
        await store.revoke_user_sessions(conn, user_id, utcnow())
        return await _start(conn, user_id)
