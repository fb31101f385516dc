"""Queries on organizations, projects and API keys."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from sendhouse.store.schema.core import api_keys, organizations, projects


async def insert_organization(conn: AsyncConnection, row: dict[str, Any]) -> None:
    await conn.execute(organizations.insert().values(**row))


async def first_organization_id(conn: AsyncConnection) -> str | None:
    query = sa.select(organizations.c.id).order_by(organizations.c.id).limit(1)
    return (await conn.execute(query)).scalar()


async def insert_project(conn: AsyncConnection, row: dict[str, Any]) -> None:
    await conn.execute(projects.insert().values(**row))


def _live_projects() -> sa.Select:
    return sa.select(projects).where(projects.c.deleted_at.is_(None))


async def get_project(conn: AsyncConnection, project_id: str, organization_id: str | None = None) -> dict | None:
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
    query = sa.select(sa.func.count()).select_from(projects).where(
        projects.c.organization_id == organization_id, projects.c.deleted_at.is_(None)
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


async def list_api_keys(conn: AsyncConnection, project_id: str) -> list[dict]:
    query = sa.select(api_keys).where(api_keys.c.project_id == project_id).order_by(api_keys.c.id)
    return [dict(r) for r in (await conn.execute(query)).mappings()]


async def revoke_api_key(conn: AsyncConnection, key_id: str, project_id: str, when: Any) -> bool:
    stmt = (
        api_keys.update()
        .where(api_keys.c.id == key_id, api_keys.c.project_id == project_id, api_keys.c.revoked_at.is_(None))
        .values(revoked_at=when)
    )
    return (await conn.execute(stmt)).rowcount == 1
