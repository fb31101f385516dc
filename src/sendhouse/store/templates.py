"""Queries on templates: lookup (shared with campaigns), listing, search, update and soft delete."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from sendhouse.domain.filters import TemplateFilter
from sendhouse.store.schema.content import templates

SORT_COLUMNS = {
    "createdAt": templates.c.created_at,
    "updatedAt": templates.c.updated_at,
    "templateName": templates.c.name,
}


_LIVE_TEMPLATE = sa.select(templates).where(
    templates.c.project_id == sa.bindparam("project_id"),
    templates.c.id == sa.bindparam("template_id"),
    templates.c.deleted_at.is_(None),
)


async def get_template(conn: AsyncConnection, project_id: str, template_id: str) -> dict | None:
    """A live (not deleted) template of the project, or None (one prebuilt query)."""
    found = await conn.execute(_LIVE_TEMPLATE, {"project_id": project_id, "template_id": template_id})
    row = found.mappings().first()
    return dict(row) if row else None


async def insert_template(conn: AsyncConnection, row: dict[str, Any]) -> None:
    await conn.execute(templates.insert().values(**row))


def _live(project_id: str) -> sa.Select:
    return sa.select(templates).where(templates.c.project_id == project_id, templates.c.deleted_at.is_(None))


async def list_templates(
    conn: AsyncConnection, project_id: str, *, template_type: str | None, limit: int
) -> list[dict]:
    """The newest live templates of a project, optionally of one type."""
    query = _live(project_id)
    if template_type:
        query = query.where(templates.c.template_type == template_type)
    query = query.order_by(templates.c.created_at.desc(), templates.c.id.desc()).limit(limit)
    return [dict(r) for r in (await conn.execute(query)).mappings()]


def _contains(column: sa.ColumnElement, text: str) -> sa.ColumnElement:
    return sa.func.lower(column).contains(text.lower(), autoescape=True)


def _filtered(query: sa.Select, f: TemplateFilter) -> sa.Select:
    if f.query:
        query = query.where(
            sa.or_(
                _contains(templates.c.name, f.query),
                _contains(templates.c.subject, f.query),
                _contains(templates.c.id, f.query),
            )
        )
    if f.template_type:
        query = query.where(templates.c.template_type == f.template_type)
    for column, text in (
        (templates.c.name, f.name),
        (templates.c.subject, f.subject),
        (templates.c.id, f.template_id),
    ):
        if text:
            query = query.where(_contains(column, text))
    return query


async def search_templates(
    conn: AsyncConnection,
    project_id: str,
    f: TemplateFilter,
    *,
    sort_by: str,
    descending: bool,
    offset: int,
    limit: int,
) -> tuple[list[dict], int]:
    """One page of the templates matching the filter, and how many match in all."""
    query = _filtered(_live(project_id), f)
    total = (await conn.execute(sa.select(sa.func.count()).select_from(query.subquery()))).scalar_one()
    column = SORT_COLUMNS[sort_by]
    order = (column.desc(), templates.c.id.desc()) if descending else (column.asc(), templates.c.id.asc())
    rows = (await conn.execute(query.order_by(*order).offset(offset).limit(limit))).mappings()
    return [dict(r) for r in rows], total


async def update_template(
    conn: AsyncConnection, project_id: str, template_id: str, values: dict[str, Any]
) -> dict | None:
    """Change a live template; the updated row, or None when there is no such live template."""
    stmt = (
        templates.update()
        .where(
            templates.c.project_id == project_id,
            templates.c.id == template_id,
            templates.c.deleted_at.is_(None),
        )
        .values(**values)
        .returning(*templates.c)
    )
    row = (await conn.execute(stmt)).mappings().first()
    return dict(row) if row else None


async def soft_delete_template(
    conn: AsyncConnection, project_id: str, template_id: str, now: datetime
) -> bool:
    """Mark a live template deleted; False when there was none."""
    result = await update_template(conn, project_id, template_id, {"deleted_at": now, "updated_at": now})
    return result is not None
