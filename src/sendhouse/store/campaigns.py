"""Queries on campaigns: reads, the filtered list, and every state change as one conditional UPDATE.

A transition function returns whether a row matched (`WHERE id=:id [AND project_id=:p] AND
<allowed states>`); the caller re-reads on a miss to tell "not found" from "wrong state". Reads
that present a campaign take its counters (store/counters.py) in the same query.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from sendhouse.domain.campaigns import PENDING_MESSAGES, SENDING
from sendhouse.domain.filters import CampaignFilter
from sendhouse.domain.pagination import Page
from sendhouse.store import counters
from sendhouse.store.lists import campaign_lists_json, described_from
from sendhouse.store.schema.audience import suppression_groups
from sendhouse.store.schema.campaigns import campaigns as c
from sendhouse.store.schema.campaigns import messages as m
from sendhouse.store.schema.content import senders, templates
from sendhouse.store.schema.core import projects
from sendhouse.store.types import UTCDateTime


async def insert(conn: AsyncConnection, row: dict[str, Any]) -> None:
    await conn.execute(c.insert().values(**row))


def _scoped(campaign_id: str, project_id: str | None) -> list:
    where = [c.c.id == campaign_id]
    if project_id is not None:
        where.append(c.c.project_id == project_id)
    return where


async def get(conn: AsyncConnection, campaign_id: str, project_id: str | None = None) -> dict | None:
    """A campaign (of the project, when given), or None."""
    row = (await conn.execute(sa.select(c).where(*_scoped(campaign_id, project_id)))).mappings().first()
    return dict(row) if row else None


async def get_many(conn: AsyncConnection, campaign_ids: Sequence[str]) -> list[dict]:
    """The campaigns with these ids (the ones that exist), in no particular order."""
    query = sa.select(c).where(c.c.id.in_(list(campaign_ids)))
    return [dict(r) for r in (await conn.execute(query)).mappings()]


_WITH_COUNTERS, _COUNTER_COLUMNS = counters.joined(c)
_TEMPLATE = templates.alias("template")
TEMPLATE_COLUMNS = (
    "id",
    "project_id",
    "name",
    "subject",
    "preview_text",
    "html",
    "template_type",
    "builder_type",
    "created_at",
    "updated_at",
)
_READS: dict[str, sa.Select] = {}
_READ = (
    sa.select(c, projects.c.organization_id, *_COUNTER_COLUMNS)
    .select_from(_WITH_COUNTERS.join(projects, projects.c.id == c.c.project_id))
    .where(c.c.id == sa.bindparam("campaign_id"), c.c.project_id == sa.bindparam("project_id"))
)


async def get_with_counters(conn: AsyncConnection, campaign_id: str, project_id: str) -> dict | None:
    """A campaign of the project with its project's `organization_id` and its counters
    (store/counters.py), in one prebuilt query; or None."""
    row = (
        (await conn.execute(_READ, {"campaign_id": campaign_id, "project_id": project_id})).mappings().first()
    )
    return dict(row) if row else None


def _full_read(dialect: str) -> sa.Select:
    """The campaign with its organization, counters, live template (columns `template__*`) and its
    lists' rows (`lists_json`, store/lists.campaign_lists_json): one statement, built once per dialect."""
    if dialect not in _READS:
        template = sa.and_(
            _TEMPLATE.c.id == c.c.template_id,
            _TEMPLATE.c.project_id == c.c.project_id,
            _TEMPLATE.c.deleted_at.is_(None),
        )
        source = _WITH_COUNTERS.join(projects, projects.c.id == c.c.project_id).outerjoin(_TEMPLATE, template)
        _READS[dialect] = (
            sa.select(
                c,
                projects.c.organization_id,
                *_COUNTER_COLUMNS,
                *(_TEMPLATE.c[name].label(f"template__{name}") for name in TEMPLATE_COLUMNS),
                campaign_lists_json(dialect).label("lists_json"),
            )
            .select_from(source)
            .where(c.c.id == sa.bindparam("campaign_id"), c.c.project_id == sa.bindparam("project_id"))
        )
    return _READS[dialect]


async def get_to_present(conn: AsyncConnection, campaign_id: str, project_id: str) -> dict | None:
    """What get_with_counters reads, plus `template` (its live template's row, or None) and `lists` (its lists
    described without scanning contacts: store/lists.described_from), in one statement; or None."""
    found = await conn.execute(
        _full_read(conn.dialect.name), {"campaign_id": campaign_id, "project_id": project_id}
    )
    first = found.mappings().first()
    if first is None:
        return None
    row = dict(first)
    template = {name: row.pop(f"template__{name}") for name in TEMPLATE_COLUMNS}
    row["template"] = template if template["id"] is not None else None
    row["lists"] = described_from(row["to_lists"] + row["exclude_lists"], row.pop("lists_json"))
    return row


def _filtered(project_id: str, f: CampaignFilter) -> list:
    where = [c.c.project_id == project_id]
    if f.status:
        where.append(c.c.status == f.status)
    if f.name:
        where.append(sa.func.lower(c.c.name).contains(f.name.lower(), autoescape=True))
    if f.created_from:
        where.append(c.c.created_at >= f.created_from)
    if f.created_to:
        where.append(c.c.created_at <= f.created_to)
    return where


async def list_page(
    conn: AsyncConnection, project_id: str, f: CampaignFilter, page: Page
) -> tuple[list[dict], int]:
    """One page of the project's campaigns (each with its counters), newest first, and the total matching."""
    where = _filtered(project_id, f)
    total = (await conn.execute(sa.select(sa.func.count()).select_from(c).where(*where))).scalar_one()
    query = (
        sa.select(c, *_COUNTER_COLUMNS)
        .select_from(_WITH_COUNTERS)
        .where(*where)
        .order_by(c.c.created_at.desc(), c.c.id.desc())
    )
    rows = (await conn.execute(query.limit(page.limit).offset(page.offset))).mappings()
    return [dict(r) for r in rows], total


async def lock_for_update(conn: AsyncConnection, campaign_id: str) -> None:
    """Hold the campaign's row lock for the rest of the transaction (SQLite: BEGIN IMMEDIATE
    already holds the database's write lock)."""
    if conn.dialect.name == "postgresql":
        await conn.execute(sa.select(c.c.id).where(c.c.id == campaign_id).with_for_update())


async def transition(
    conn: AsyncConnection,
    campaign_id: str,
    allowed: sa.ColumnElement,
    values: dict,
    *,
    project_id: str | None = None,
) -> bool:
    """UPDATE the campaign WHERE id (and project) AND `allowed`; whether it matched."""
    stmt = c.update().where(*_scoped(campaign_id, project_id), allowed).values(**values)
    return (await conn.execute(stmt)).rowcount == 1


def status_in(statuses: tuple[str, ...]) -> sa.ColumnElement:
    return c.c.status.in_(statuses)


def pausable() -> sa.ColumnElement:
    """Sending, or a gradual campaign still waiting for its start."""
    return sa.or_(c.c.status.in_(SENDING), sa.and_(c.c.status == "scheduled", c.c.send_mode == "gradual"))


def resume_values(now: datetime) -> dict:
    """Back to the sending state of its mode; a campaign that never started goes back to `scheduled`
    (keeping a future start, or starting now when its time has passed) so the scheduler expands it."""
    never_started = c.c.started_at.is_(None)
    now_value = sa.literal(now, UTCDateTime())
    status = sa.case(
        (never_started, "scheduled"), (c.c.send_mode == "gradual", "sending_gradual"), else_="sending"
    )
    overdue = sa.and_(never_started, sa.or_(c.c.scheduled_at.is_(None), c.c.scheduled_at < now))
    scheduled_at = sa.case((overdue, now_value), else_=c.c.scheduled_at)
    return {
        "status": status,
        "scheduled_at": scheduled_at,
        "resumed_at": now,
        "paused_reason": None,
        "updated_at": now,
    }


def start_values(now: datetime) -> dict:
    status = sa.case((c.c.send_mode == "gradual", "sending_gradual"), else_="sending")
    return {"status": status, "started_at": now, "updated_at": now}


def nothing_pending(campaign_id: str) -> sa.ColumnElement:
    """True when no ledger row of the campaign is queued, sending or deferred."""
    pending = sa.select(m.c.id).where(m.c.campaign_id == campaign_id, m.c.status.in_(PENDING_MESSAGES))
    return ~sa.exists(pending)


async def delete_if(
    conn: AsyncConnection, campaign_id: str, project_id: str, statuses: tuple[str, ...]
) -> bool:
    stmt = c.delete().where(*_scoped(campaign_id, project_id), c.c.status.in_(statuses))
    return (await conn.execute(stmt)).rowcount == 1


async def get_sender(conn: AsyncConnection, project_id: str, sender_id: str) -> dict | None:
    query = sa.select(senders).where(senders.c.project_id == project_id, senders.c.id == sender_id)
    row = (await conn.execute(query)).mappings().first()
    return dict(row) if row else None


async def group_exists(conn: AsyncConnection, project_id: str, group_code: str) -> bool:
    query = sa.select(suppression_groups.c.id).where(
        suppression_groups.c.project_id == project_id, suppression_groups.c.group_code == group_code
    )
    return (await conn.execute(query)).first() is not None


async def organization_of(conn: AsyncConnection, project_id: str) -> str | None:
    query = sa.select(projects.c.organization_id).where(projects.c.id == project_id)
    return (await conn.execute(query)).scalar()


async def with_sender_in(conn: AsyncConnection, project_id: str, statuses: tuple[str, ...]) -> list[dict]:
    """{id, name, from_email} of the project's campaigns in these states that have a `from` address."""
    query = (
        sa.select(c.c.id, c.c.name, c.c.from_email)
        .where(c.c.project_id == project_id, c.c.status.in_(statuses), c.c.from_email.is_not(None))
        .order_by(c.c.id)
    )
    return [dict(r) for r in (await conn.execute(query)).mappings()]
