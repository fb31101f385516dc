"""Queries on organizations, projects and API keys."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from sendhouse.store.schema.core import api_keys, organizations, projects


async def insert_organization(conn: AsyncConnection, row: dict[str, Any]) -> None:
    await conn.execute(organizations.insert().values(**row))


async def insert_project(conn: AsyncConnection, row: dict[str, Any]) -> None:
    await conn.execute(projects.insert().values(**row))


def _live_projects() -> sa.Select:
    return sa.select(projects).where(projects.c.deleted_at.is_(None))


async def get_project(
    conn: AsyncConnection, project_id: str, organization_id: str | None = None
) -> dict | None:
    query = _live_projects().where(projects.c.id == project_id)
    if organization_id is not None:
        query = query.where(projects.c.organization_id == organization_id)
    row = (await conn.execute(query)).mappings().first()
    return dict(row) if row else None


async def find_project_by_name(conn: AsyncConnection, name: str) -> dict | None:
    query = _live_projects().where(projects.c.name == name).order_by(projects.c.id).limit(1)
    row = (await conn.execute(query)).mappings().first()
    return dict(row) if row else None


async def list_projects(conn: AsyncConnection, organization_id: str | None = None) -> list[dict]:
    query = _live_projects().order_by(projects.c.id)
    if organization_id is not None:
        query = query.where(projects.c.organization_id == organization_id)
    return [dict(r) for r in (await conn.execute(query)).mappings()]


async def count_projects(conn: AsyncConnection, organization_id: str) -> int:
    query = (
        sa.select(sa.func.count())
        .select_from(projects)
        .where(projects.c.organization_id == organization_id, projects.c.deleted_at.is_(None))
    )
    return (await conn.execute(query)).scalar_one()


async def soft_delete_project(conn: AsyncConnection, project_id: str, when: Any) -> bool:
    stmt = (
        projects.update()
        .where(projects.c.id == project_id, projects.c.deleted_at.is_(None))
        .values(deleted_at=when, updated_at=when)
    )
    return (await conn.execute(stmt)).rowcount == 1


async def insert_api_key(conn: AsyncConnection, row: dict[str, Any]) -> None:
    await conn.execute(api_keys.insert().values(**row))


async def find_api_key(conn: AsyncConnection, key_hash: str) -> dict | None:
    query = sa.select(api_keys).where(api_keys.c.key_hash == key_hash, api_keys.c.revoked_at.is_(None))
    row = (await conn.execute(query)).mappings().first()
    return dict(row) if row else None


async def list_keys_of(
    conn: AsyncConnection, organization_id: str, *, project_id: str | None = None
) -> list[dict]:
    """The keys of an organization (those of one of its projects and its account keys, with project_id)."""
    where = [api_keys.c.organization_id == organization_id]
    if project_id is not None:
        where.append(sa.or_(api_keys.c.project_id == project_id, api_keys.c.kind == "account"))
    query = sa.select(api_keys).where(*where).order_by(api_keys.c.id)
    return [dict(r) for r in (await conn.execute(query)).mappings()]


async def revoke_api_key(conn: AsyncConnection, key_id: str, project_id: str, when: Any) -> bool:
    stmt = (
        api_keys.update()
        .where(api_keys.c.id == key_id, api_keys.c.project_id == project_id, api_keys.c.revoked_at.is_(None))
        .values(revoked_at=when)
    )
    return (await conn.execute(stmt)).rowcount == 1


async def revoke_key_of(conn: AsyncConnection, key_id: str, organization_id: str | None, when: Any) -> bool:
    """Revoke a live key of the organization (of any organization when None); whether one was."""
    where = [api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None)]
    if organization_id is not None:
        where.append(api_keys.c.organization_id == organization_id)
    return (await conn.execute(api_keys.update().where(*where).values(revoked_at=when))).rowcount == 1


async def get_api_key(conn: AsyncConnection, key_id: str) -> dict | None:
    row = (await conn.execute(sa.select(api_keys).where(api_keys.c.id == key_id))).mappings().first()
    return dict(row) if row else None


async def stamp_key_use(conn: AsyncConnection, key_id: str, now: Any, unless_after: Any) -> None:
    """Set last_used_at unless it was set after `unless_after` (one write a minute at most)."""
    await conn.execute(
        api_keys.update()
        .where(
            api_keys.c.id == key_id,
            sa.or_(api_keys.c.last_used_at.is_(None), api_keys.c.last_used_at < unless_after),
        )
        .values(last_used_at=now)
    )
