"""Dashboard users: creation (argon2 hash), password login, project memberships, first-run login.

A password check (argon2, about 170 ms of CPU) runs in a thread, never on the event loop. Login
attempts are throttled per client IP and per account by token buckets shared by every process
(store/kv.py): LOGIN_IP_LIMIT and LOGIN_ACCOUNT_LIMIT are (burst, attempts per second regained).
"""

from __future__ import annotations

import asyncio
import functools
import math
import secrets
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from sendhouse.domain import emails, ids
from sendhouse.domain.times import utcnow
from sendhouse.errors import Conflict, InvalidInput, NotFound, RateLimited, Unauthorized
from sendhouse.store import kv
from sendhouse.store import projects as project_store
from sendhouse.store import users as store
from sendhouse.store.db import Database

FIRST_USER_EMAIL = "admin@sendhouse.example"
MIN_PASSWORD = 10
MAX_PASSWORD = 200
LOGIN_IP_LIMIT = (20, 20 / 60)  # 20 at once, then one every 3 s
LOGIN_ACCOUNT_LIMIT = (10, 10 / 600)  # 10 at once, then one a minute
_HASHER = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """A hash to verify against when the account does not exist (the answer takes as long as for
    one that does); made on first use, not at import, where it cost every process 0.2 s."""
    return _HASHER.hash("not-a-real-password")


def present_user(row: dict) -> dict:
    return {"id": row["id"], "email": row["email"]}


def check_password(password: str) -> str:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise InvalidInput.field(
            "password", f"the password must be {MIN_PASSWORD} to {MAX_PASSWORD} characters"
        )
    return password


def generate_password() -> str:
    return secrets.token_urlsafe(15)


async def create_user(
    db: Database, email: str, *, password: str | None = None, project_id: str | None = None
) -> tuple[dict, str]:
    """Create a user (a member of `project_id` when given); returns the user and its password."""
    email = emails.key(email, "email")
    password = check_password(password) if password is not None else generate_password()
    row: dict[str, Any] = {
        "id": ids.new_id(),
        "email": email,
        "password_hash": _HASHER.hash(password),
        "created_at": utcnow(),
    }
    async with db.write() as conn:
        if await store.find_by_email(conn, email):
            raise Conflict("A user with this email already exists", code="USER_ALREADY_EXISTS")
        await store.insert_user(conn, row)
        if project_id is not None:
            await store.add_member(conn, row["id"], project_id, row["created_at"])
    return present_user(row), password


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(hashed: str, password: str) -> bool:
    """Whether `password` matches the argon2 hash (CPU-bound: call it in a thread)."""
    return _verify(hashed, password)


def _verify(hashed: str, password: str) -> bool:
    try:
        return _HASHER.verify(hashed, password)
    except (VerificationError, InvalidHashError):
        return False


async def login(db: Database, email: str, password: str, *, client_ip: str | None = None) -> dict:
    """The user with these credentials, or Unauthorized (same answer for unknown email and bad password);
    RateLimited when the client IP or the account has used up its attempts."""
    email = emails.key_of(email or "")
    buckets = {
        f"login-ip:{client_ip or '-'}": (LOGIN_IP_LIMIT, "from your address"),
        f"login-account:{email[:320]}": (LOGIN_ACCOUNT_LIMIT, "for this account"),
    }
    for key, (limit, whom) in buckets.items():
        await _throttle(db, key, limit, whom)
    async with db.read() as conn:
        row = await store.find_by_email(conn, email)
    matches = await asyncio.to_thread(_verify, row["password_hash"] if row else _dummy_hash(), password or "")
    if not matches or row is None:
        raise Unauthorized("Wrong email or password", code="INVALID_CREDENTIALS")
    async with db.write() as conn:  # only failed guesses count: a good login gives its attempts back
        await store.touch_login(conn, row["id"], utcnow())
        for key, ((burst, _rate), _whom) in buckets.items():
            await kv.give_back(conn, key, 1, burst=burst)
    return present_user(row)


async def _throttle(db: Database, key: str, limit: tuple[int, float], whom: str) -> None:
    burst, rate = limit
    async with db.write() as conn:
        granted = await kv.take_tokens(conn, key, 1, rate=rate, burst=burst, now=utcnow())
    if not granted:
        wait = math.ceil(1 / rate)
        raise RateLimited(wait, f"Too many login attempts {whom}. Try again in {wait} seconds.")


async def get_user(db: Database, user_id: str) -> dict | None:
    async with db.read() as conn:
        row = await store.get_user(conn, user_id)
    return present_user(row) if row else None


async def user_projects(db: Database, user_id: str) -> list[dict]:
    """The projects a user belongs to, as {id, name}."""
    async with db.read() as conn:
        rows = await store.member_projects(conn, user_id)
    return [{"id": r["id"], "name": r["name"]} for r in rows]


async def ensure_first_user(db: Database, email: str = FIRST_USER_EMAIL) -> tuple[dict, str] | None:
    """When no user exists yet: make one, member of every project; returns (user, password) once."""
    async with db.read() as conn:
        if await store.count_users(conn):
            return None
    user, password = await create_user(db, email)
    async with db.write() as conn:
        for project in await project_store.list_projects(conn):
            await store.add_member(conn, user["id"], project["id"], utcnow())
    return user, password


async def reset_password(db: Database, email: str, password: str | None = None) -> tuple[dict, str]:
    """Set a user's password (a generated one when None, returned once) and end all their sessions:
    the way back in for a lost admin password, from the command line."""
    password = check_password(password) if password is not None else generate_password()
    hashed = await asyncio.to_thread(hash_password, password)
    async with db.write() as conn:
        found = await store.find_by_email(conn, emails.key(email, "email"))
        if found is None:
            raise NotFound(f"No dashboard user has the address {email}", code="USER_NOT_FOUND")
        await store.set_password_hash(conn, found["id"], hashed)
        await store.revoke_user_sessions(conn, found["id"], utcnow())
    return present_user(found), password
