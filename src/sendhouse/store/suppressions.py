"""Queries on suppression groups (AutoSend's unsubscribe groups) and the suppressed addresses in them.

Groups are addressed by their short upper-case `group_code`; every project has one global group
(`is_global`), whose entries mean "never mail this address".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from sendhouse.domain.pagination import Page
from sendhouse.store.schema.audience import suppression_groups as groups
from sendhouse.store.schema.audience import suppressions


@dataclass(frozen=True)
class EntryFilters:
    """Filters of the entries search; None means "any"."""

    group_id: str | None = None  # the group's row id (the service resolves the code)
    reason: str | None = None
    search: str | None = None
    email: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    is_global: bool | None = None


def _count_column() -> sa.Label:
    return (
        sa.select(sa.func.count())
        .select_from(suppressions)
        .where(suppressions.c.group_id == groups.c.id)
        .scalar_subquery()
        .label("suppression_count")
    )


def _groups_query(project_id: str) -> sa.Select:
    return sa.select(groups, _count_column()).where(groups.c.project_id == project_id)


async def insert_group(conn: AsyncConnection, row: dict) -> None:
    await conn.execute(groups.insert().values(**row))


async def get_group(conn: AsyncConnection, project_id: str, code: str) -> dict | None:
    """A group of the project by its short code, with its suppression_count."""
    row = (
        (await conn.execute(_groups_query(project_id).where(groups.c.group_code == code))).mappings().first()
    )
    return dict(row) if row else None


async def global_group(conn: AsyncConnection, project_id: str) -> dict | None:
    row = (
        (await conn.execute(_groups_query(project_id).where(groups.c.is_global.is_(True)))).mappings().first()
    )
    return dict(row) if row else None


async def default_group(conn: AsyncConnection, project_id: str) -> dict | None:
    """The project's default (non-global) group, where suppressions without a groupId go."""
    query = (
        _groups_query(project_id)
        .where(groups.c.is_default.is_(True))
        .order_by(groups.c.created_at, groups.c.id)
    )
    row = (await conn.execute(query)).mappings().first()
    return dict(row) if row else None


async def list_groups(
    conn: AsyncConnection, project_id: str, *, only_global: bool, include_global: bool
) -> list[dict]:
    """The project's groups, the global one first, then the default one."""
    query = _groups_query(project_id)
    if only_global:
        query = query.where(groups.c.is_global.is_(True))
    elif not include_global:
        query = query.where(groups.c.is_global.is_(False))
    query = query.order_by(
        groups.c.is_global.desc(), groups.c.is_default.desc(), groups.c.created_at, groups.c.id
    )
    return [dict(r) for r in (await conn.execute(query)).mappings()]


async def update_group(conn: AsyncConnection, project_id: str, code: str, values: dict) -> bool:
    query = (
        groups.update().where(groups.c.project_id == project_id, groups.c.group_code == code).values(**values)
    )
    return (await conn.execute(query)).rowcount > 0


async def delete_group(conn: AsyncConnection, project_id: str, code: str) -> bool:
    """Delete a group (neither global nor default) and its entries; False when there is no such deletable group."""
    where = (
        groups.c.project_id == project_id,
        groups.c.group_code == code,
        groups.c.is_global.is_(False),
        groups.c.is_default.is_(False),
    )
    target = sa.select(groups.c.id).where(*where).scalar_subquery()
    await conn.execute(suppressions.delete().where(suppressions.c.group_id == target))
    return (await conn.execute(groups.delete().where(*where))).rowcount > 0


def _dialect_insert(conn: AsyncConnection):
    return postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert


async def upsert_entries(conn: AsyncConnection, rows: list[dict]) -> None:
    """Insert suppressions; an address already in the group gets the new reason and time."""
    if not rows:
        return
    stmt = _dialect_insert(conn)(suppressions).values(rows)
    stmt = stmt.on_conflict_do_update(
        index_elements=[suppressions.c.group_id, suppressions.c.email],
        set_={
            "reason": stmt.excluded.reason,
            "source_message_id": stmt.excluded.source_message_id,
            "updated_at": stmt.excluded.updated_at,
        },
    )
    await conn.execute(stmt)


async def delete_entries(
    conn: AsyncConnection, project_id: str, emails: Sequence[str], group_ids: Sequence[str] | None
) -> int:
    """Remove addresses from the given groups (all the project's groups when None); return the rows removed."""
    query = suppressions.delete().where(
        suppressions.c.project_id == project_id, suppressions.c.email.in_(list(emails))
    )
    if group_ids is not None:
        query = query.where(suppressions.c.group_id.in_(list(group_ids)))
    return (await conn.execute(query)).rowcount


def _entry_conditions(project_id: str, f: EntryFilters) -> list[sa.ColumnElement]:
    where = [suppressions.c.project_id == project_id]
    optional = [
        (f.group_id, lambda: suppressions.c.group_id == f.group_id),
        (f.reason, lambda: suppressions.c.reason == f.reason),
        (f.search, lambda: suppressions.c.email.contains((f.search or "").lower(), autoescape=True)),
        (f.email, lambda: suppressions.c.email == f.email),
        (f.start, lambda: suppressions.c.created_at >= f.start),
        (f.end, lambda: suppressions.c.created_at <= f.end),
        (f.is_global, lambda: groups.c.is_global.is_(bool(f.is_global))),
    ]
    where += [make() for value, make in optional if value is not None]
    return where


async def search_entries(
    conn: AsyncConnection, project_id: str, filters: EntryFilters, page: Page
) -> tuple[list[dict], int]:
    """One page of entries (newest first) with their group's code, and the total matching."""
    joined = suppressions.join(groups, groups.c.id == suppressions.c.group_id)
    where = _entry_conditions(project_id, filters)
    total = (await conn.execute(sa.select(sa.func.count()).select_from(joined).where(*where))).scalar_one()
    query = (
        sa.select(suppressions, groups.c.group_code)
        .select_from(joined)
        .where(*where)
        .order_by(suppressions.c.created_at.desc(), suppressions.c.id.desc())
        .limit(page.limit)
        .offset(page.offset)
    )
    return [dict(r) for r in (await conn.execute(query)).mappings()], total


async def groups_of_email(conn: AsyncConnection, project_id: str, email: str) -> list[dict]:
    """The groups of the project an address is suppressed in, the global one first."""
    inside = sa.select(suppressions.c.group_id).where(
        suppressions.c.project_id == project_id, suppressions.c.email == email
    )
    query = sa.select(groups).where(groups.c.project_id == project_id, groups.c.id.in_(inside))
    query = query.order_by(
        groups.c.is_global.desc(), groups.c.is_default.desc(), groups.c.created_at, groups.c.id
    )
    return [dict(r) for r in (await conn.execute(query)).mappings()]


def blocking_groups(project_id: str, group_code: str | None) -> sa.Select:
    """Ids of the groups that stop a mail: the global group and, when given, the mail's own group."""
    wanted: sa.ColumnElement[bool] = groups.c.is_global.is_(True)
    if group_code:
        wanted = sa.or_(wanted, groups.c.group_code == group_code)
    return sa.select(groups.c.id).where(groups.c.project_id == project_id, wanted)


def suppressed_emails(project_id: str, group_code: str | None) -> sa.Select:
    """SELECT of the addresses suppressed globally or in the given group."""
    blocking = blocking_groups(project_id, group_code)
    return sa.select(suppressions.c.email).where(
        suppressions.c.project_id == project_id, suppressions.c.group_id.in_(blocking)
    )


async def is_suppressed(conn: AsyncConnection, project_id: str, email: str, group_code: str | None) -> bool:
    query = suppressed_emails(project_id, group_code).where(suppressions.c.email == email).limit(1)
    return (await conn.execute(query)).first() is not None


async def suppressed_among(
    conn: AsyncConnection, project_id: str, emails: Sequence[str], group_code: str | None
) -> set[str]:
    """Which of the given addresses are suppressed globally or in the given group."""
    if not emails:
        return set()
    query = suppressed_emails(project_id, group_code).where(suppressions.c.email.in_(list(emails)))
    return set((await conn.execute(query)).scalars())
