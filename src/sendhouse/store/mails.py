"""Queries for transactional mail: suppression lookups and the status lookup (rows are inserted by
store/ledger.py).

Transactional ledger rows live in `messages` (kind 'transactional', campaign_id NULL). One row per
recipient (to, cc and bcc alike); the first row of an email (its TO row) carries the full content
in `payload["content"]`, the others point at it with `payload["contentRowId"]`.
"""

from __future__ import annotations

import functools

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from sendhouse.domain.emails import key_of
from sendhouse.store.bulk import among_param
from sendhouse.store.schema.audience import suppression_groups, suppressions
from sendhouse.store.schema.campaigns import messages
from sendhouse.store.schema.core import projects

_TRACKING = sa.select(projects.c.tracking_open, projects.c.tracking_click).where(
    projects.c.id == sa.bindparam("project_id")
)


async def tracking_defaults(conn: AsyncConnection, project_id: str) -> tuple[bool, bool]:
    """The project's (tracking_open, tracking_click) defaults."""
    row = (await conn.execute(_TRACKING, {"project_id": project_id})).first()
    return (bool(row[0]), bool(row[1])) if row else (True, True)


async def group_exists(conn: AsyncConnection, project_id: str, group_code: str) -> bool:
    """Whether the project has a suppression (unsubscribe) group with this short code."""
    query = sa.select(suppression_groups.c.id).where(
        suppression_groups.c.project_id == project_id, suppression_groups.c.group_code == group_code
    )
    return (await conn.execute(query)).first() is not None


async def suppressed_among(
    conn: AsyncConnection, project_id: str, emails: list[str], group_code: str | None
) -> set[str]:
    """The lower-cased addresses among `emails` suppressed globally or in the given group."""
    if not emails:
        return set()
    query = _suppressed_query(conn.dialect.name == "postgresql", bool(group_code))
    values = {"project_id": project_id, "emails": sorted({key_of(e) for e in emails})}
    if group_code:
        values["group_code"] = group_code
    return {row[0].lower() for row in await conn.execute(query, values)}


@functools.cache
def _suppressed_query(on_postgresql: bool, grouped: bool) -> sa.Select:
    """suppressed_among's statement, built once per kind (building it took longer than running it)."""
    wanted: sa.ColumnElement[bool] = suppression_groups.c.is_global.is_(True)
    if grouped:
        wanted = sa.or_(wanted, suppression_groups.c.group_code == sa.bindparam("group_code"))
    groups = sa.select(suppression_groups.c.id).where(
        suppression_groups.c.project_id == sa.bindparam("project_id"), wanted
    )
    return sa.select(suppressions.c.email).where(
        suppressions.c.project_id == sa.bindparam("project_id"),
        suppressions.c.group_id.in_(groups),
        among_param(on_postgresql, sa.func.lower(suppressions.c.email), "emails"),
    )


async def get_transactional(conn: AsyncConnection, project_id: str, row_id: str) -> dict | None:
    """A transactional ledger row of the project, or None."""
    query = sa.select(messages).where(
        messages.c.id == row_id, messages.c.project_id == project_id, messages.c.kind == "transactional"
    )
    row = (await conn.execute(query)).mappings().first()
    return dict(row) if row else None


async def content_of(conn: AsyncConnection, row: dict) -> dict:
    """The content (from, subject, html, ...) of a transactional row, following contentRowId if needed."""
    payload = row["payload"] or {}
    if "content" in payload:
        return payload["content"]
    query = sa.select(messages.c.payload).where(
        messages.c.id == payload.get("contentRowId"), messages.c.project_id == row["project_id"]
    )
    found = (await conn.execute(query)).scalar_one_or_none()
    return (found or {}).get("content", {})
