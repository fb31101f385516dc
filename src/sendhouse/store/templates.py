"""Queries on templates (issue 4 completes this module)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from sendhouse.store.schema.content import templates


async def get_template(conn: AsyncConnection, project_id: str, template_id: str) -> dict | None:
    """A live (not deleted) template of the project, or None."""
    query = sa.select(templates).where(
        templates.c.project_id == project_id, templates.c.id == template_id, templates.c.deleted_at.is_(None)
    )
    row = (await conn.execute(query)).mappings().first()
    return dict(row) if row else None
