"""The people of a project (dashboard users who are its members): invite by email (a new user gets
a generated password, shown once to whoever invites), reset a member's password (every session of
theirs ends), remove a member (never yourself)."""

from __future__ import annotations

import asyncio

from sendhouse.domain import emails
from sendhouse.domain.times import iso, utcnow
from sendhouse.errors import Conflict, InvalidOperation, NotFound
from sendhouse.services import users as user_service
from sendhouse.store import users as store
from sendhouse.store.db import Database


def _present(row: dict) -> dict:
    return {
        "id": row["id"],
        "email": row["email"],
        "joinedAt": iso(row["joined_at"]),
        "lastLoginAt": iso(row["last_login_at"]),
    }


async def list_members(db: Database, project_id: str) -> list[dict]:
    async with db.read() as conn:
        return [_present(r) for r in await store.members_of(conn, project_id)]


async def invite(db: Database, project_id: str, email: str) -> tuple[dict, str | None]:
    """Make `email` a member: an existing user joins (password None), anyone else becomes a user
    with a generated password (returned once)."""
    email = emails.key(email, "email")
    async with db.write() as conn:
        found = await store.find_by_email(conn, email)
        if found is not None:
            if not await store.add_member(conn, found["id"], project_id, utcnow()):
                raise Conflict(f"{email} is already a member of this project", code="ALREADY_A_MEMBER")
            return user_service.present_user(found), None
    return await user_service.create_user(db, email, project_id=project_id)


async def _member(conn, project_id: str, user_id: str) -> dict:
    found = {r["id"]: r for r in await store.members_of(conn, project_id)}.get(user_id)
    if found is None:
        raise NotFound("No such member of this project", code="MEMBER_NOT_FOUND")
    return found


async def reset_password(db: Database, project_id: str, user_id: str) -> tuple[dict, str]:
    """A new generated password for a member (returned once); every session of theirs ends."""
    password = user_service.generate_password()
    hashed = await asyncio.to_thread(user_service.hash_password, password)
    async with db.write() as conn:
        member = await _member(conn, project_id, user_id)
        await store.set_password_hash(conn, user_id, hashed)
        await store.revoke_user_sessions(conn, user_id, utcnow())
    return _present(member), password


async def remove(db: Database, project_id: str, user_id: str, *, acting_user_id: str) -> dict:
    """Take a member out of the project (their account stays; other projects keep them)."""
    if user_id == acting_user_id:
        raise InvalidOperation(
            "You cannot remove yourself; ask another member", code="CANNOT_REMOVE_YOURSELF"
        )
    async with db.write() as conn:
        member = await _member(conn, project_id, user_id)
        await store.remove_member(conn, user_id, project_id)
    return _present(member)
