"""Queries on dashboard users and project memberships."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from sendhouse.store.schema.core import projects
from sendhouse.store.schema.dashboard import dashboard_sessions, project_members, users


async def insert_user(conn: AsyncConnection, row: dict) -> None:
    await conn.execute(users.insert().values(**row))


async def _one(conn: AsyncConnection, where: sa.ColumnElement) -> dict | None:
    row = (await conn.execute(sa.select(users).where(where))).mappings().first()
    return dict(row) if row else None


async def get_user(conn: AsyncConnection, user_id: str) -> dict | None:
    return await _one(conn, users.c.id == user_id)


async def find_by_email(conn: AsyncConnection, email: str) -> dict | None:
    return await _one(conn, users.c.email == email)


async def count_users(conn: AsyncConnection) -> int:
    return (await conn.execute(sa.select(sa.func.count()).select_from(users))).scalar_one()


async def touch_login(conn: AsyncConnection, user_id: str, now: datetime) -> None:
    await conn.execute(users.update().where(users.c.id == user_id).values(last_login_at=now))


async def add_member(conn: AsyncConnection, user_id: str, project_id: str, now: datetime) -> bool:
    """Add a membership unless it exists; True when added."""
    exists = (
        await conn.execute(
            sa.select(project_members.c.user_id).where(
                project_members.c.user_id == user_id, project_members.c.project_id == project_id
            )
        )
    ).first()
    if exists:
        return False
    await conn.execute(
        project_members.insert().values(user_id=user_id, project_id=project_id, created_at=now)
    )
    return True


async def members_of(conn: AsyncConnection, project_id: str) -> list[dict]:
    """The users of a project with when they joined and last logged in, by email."""
    query = (
        sa.select(
            users.c.id, users.c.email, users.c.last_login_at, project_members.c.created_at.label("joined_at")
        )
        .join(project_members, project_members.c.user_id == users.c.id)
        .where(project_members.c.project_id == project_id)
        .order_by(users.c.email)
    )
    return [dict(r) for r in (await conn.execute(query)).mappings()]


async def remove_member(conn: AsyncConnection, user_id: str, project_id: str) -> bool:
    stmt = project_members.delete().where(
        project_members.c.user_id == user_id, project_members.c.project_id == project_id
    )
    return (await conn.execute(stmt)).rowcount == 1


async def member_projects(conn: AsyncConnection, user_id: str) -> list[dict]:
    """The live projects a user belongs to, oldest first."""
    query = (
        sa.select(projects)
        .join(project_members, project_members.c.project_id == projects.c.id)
        .where(project_members.c.user_id == user_id, projects.c.deleted_at.is_(None))
        .order_by(projects.c.id)
    )
    return [dict(r) for r in (await conn.execute(query)).mappings()]


# --- sessions --------------------------------------------------------------------------------


async def insert_session(conn: AsyncConnection, row: dict) -> None:
    await conn.execute(dashboard_sessions.insert().values(**row))


async def session_user_id(conn: AsyncConnection, token_hash: str, now: datetime) -> str | None:
    """The user of a live session (not revoked, not expired), else None."""
    query = sa.select(dashboard_sessions.c.user_id).where(
        dashboard_sessions.c.token_hash == token_hash,
        dashboard_sessions.c.revoked_at.is_(None),
        dashboard_sessions.c.expires_at > now,
    )
    return (await conn.execute(query)).scalar_one_or_none()


async def revoke_session(conn: AsyncConnection, token_hash: str, now: datetime) -> None:
    await conn.execute(
        dashboard_sessions.update()
        .where(dashboard_sessions.c.token_hash == token_hash, dashboard_sessions.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )


async def revoke_user_sessions(conn: AsyncConnection, user_id: str, now: datetime) -> int:
    """Revoke every live session of a user; how many were."""
    result = await conn.execute(
        dashboard_sessions.update()
        .where(dashboard_sessions.c.user_id == user_id, dashboard_sessions.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return result.rowcount


async def forget_old_sessions(conn: AsyncConnection, before: datetime) -> int:
    """Delete sessions that expired before `before`."""
    return (
        await conn.execute(dashboard_sessions.delete().where(dashboard_sessions.c.expires_at < before))
    ).rowcount


async def set_password_hash(conn: AsyncConnection, user_id: str, password_hash: str) -> None:
    await conn.execute(users.update().where(users.c.id == user_id).values(password_hash=password_hash))
