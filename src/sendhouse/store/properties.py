"""Queries on contact properties (typed custom fields) of a project."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from sendhouse.store.contacts import dialect_insert
from sendhouse.store.schema.audience import contact_properties


async def insert_property(conn: AsyncConnection, row: dict[str, Any]) -> bool:
    """Insert unless a property of that name exists; True when inserted."""
    stmt = (
        dialect_insert(conn, contact_properties)
        .values(**row)
        .on_conflict_do_nothing(index_elements=["project_id", "name"])
    )
    return (await conn.execute(stmt.returning(contact_properties.c.id))).first() is not None


async def list_properties(conn: AsyncConnection, project_id: str) -> list[dict]:
    query = (
        sa.select(contact_properties)
        .where(contact_properties.c.project_id == project_id)
        .order_by(contact_properties.c.created_at, contact_properties.c.id)
    )
    return [dict(r) for r in (await conn.execute(query)).mappings()]


async def get_property(conn: AsyncConnection, project_id: str, name: str) -> dict | None:
    query = sa.select(contact_properties).where(
        contact_properties.c.project_id == project_id, contact_properties.c.name == name
    )
    row = (await conn.execute(query)).mappings().first()
    return dict(row) if row else None


async def name_taken(conn: AsyncConnection, project_id: str, name: str) -> bool:
    """Whether a property of that name exists, ignoring case."""
    query = (
        sa.select(sa.func.count())
        .select_from(contact_properties)
        .where(
            contact_properties.c.project_id == project_id,
            sa.func.lower(contact_properties.c.name) == name.lower(),
        )
    )
    return (await conn.execute(query)).scalar_one() > 0


async def delete_property(conn: AsyncConnection, project_id: str, name: str) -> bool:
    stmt = contact_properties.delete().where(
        contact_properties.c.project_id == project_id, contact_properties.c.name == name
    )
    return (await conn.execute(stmt.returning(contact_properties.c.id))).first() is not None


async def property_types(conn: AsyncConnection, project_id: str) -> dict[str, str]:
    """{name: type} of every property of the project."""
    query = sa.select(contact_properties.c.name, contact_properties.c.type).where(
        contact_properties.c.project_id == project_id
    )
    return dict((await conn.execute(query)).all())
