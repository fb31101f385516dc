"""Queries on automations (soft-deleted with deleted_at) and their per-automation / per-step figures.

Every status change is a conditional UPDATE (`WHERE id=:id AND status IN (...)`).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from sendhouse.store.schema.automations import automation_runs, automation_steps_log, automations
from sendhouse.store.schema.campaigns import messages
from sendhouse.store.schema.feedback import message_events

t = automations


def _live(project_id: str) -> sa.ColumnElement:
    return sa.and_(t.c.project_id == project_id, t.c.deleted_at.is_(None))


async def insert(conn: AsyncConnection, row: dict) -> None:
    await conn.execute(t.insert().values(**row))


async def get(conn: AsyncConnection, project_id: str, automation_id: str) -> dict | None:
    row = (
        (await conn.execute(sa.select(t).where(_live(project_id), t.c.id == automation_id)))
        .mappings()
        .first()
    )
    return dict(row) if row else None


async def get_by_id(conn: AsyncConnection, automation_id: str) -> dict | None:
    row = (await conn.execute(sa.select(t).where(t.c.id == automation_id))).mappings().first()
    return dict(row) if row else None


async def listing(
    conn: AsyncConnection, project_id: str, status: str | None, offset: int, limit: int
) -> tuple[list[dict], int]:
    where = [_live(project_id)] + ([t.c.status == status] if status else [])
    total = (await conn.execute(sa.select(sa.func.count()).where(*where))).scalar_one()
    query = (
        sa.select(t).where(*where).order_by(t.c.created_at.desc(), t.c.id.desc()).offset(offset).limit(limit)
    )
    return [dict(r) for r in (await conn.execute(query)).mappings()], total


async def all_of(conn: AsyncConnection, project_id: str, status: str | None) -> list[dict]:
    where = [_live(project_id)] + ([t.c.status == status] if status else [])
    query = sa.select(t).where(*where).order_by(t.c.created_at.desc(), t.c.id.desc())
    return [dict(r) for r in (await conn.execute(query)).mappings()]


async def active_with_triggers(conn: AsyncConnection, project_id: str, triggers: Sequence[str]) -> list[dict]:
    """The project's active automations entered by any of these trigger types."""
    query = sa.select(t).where(
        _live(project_id), t.c.status == "active", t.c.trigger_type.in_(list(triggers))
    )
    return [dict(r) for r in (await conn.execute(query.order_by(t.c.id))).mappings()]


async def transition(
    conn: AsyncConnection, project_id: str, automation_id: str, allowed: Sequence[str], values: dict
) -> dict | None:
    """Set values when the automation is in one of `allowed`; the updated row or None."""
    stmt = (
        t.update()
        .where(_live(project_id), t.c.id == automation_id, t.c.status.in_(list(allowed)))
        .values(**values)
        .returning(t)
    )
    row = (await conn.execute(stmt)).mappings().first()
    return dict(row) if row else None


async def run_counts(conn: AsyncConnection, automation_ids: list[str]) -> dict[str, dict[str, int]]:
    """{automation id: {run status: count}}."""
    if not automation_ids:
        return {}
    runs = automation_runs
    query = (
        sa.select(runs.c.automation_id, runs.c.status, sa.func.count())
        .where(runs.c.automation_id.in_(automation_ids))
        .group_by(runs.c.automation_id, runs.c.status)
    )
    found: dict[str, dict[str, int]] = {i: {} for i in automation_ids}
    for automation_id, status, count in await conn.execute(query):
        found[automation_id][status] = count
    return found


async def step_counts(conn: AsyncConnection, automation_id: str) -> dict[str, dict[str, int]]:
    """{step id: {entered, <ledger status>, opened, clicked, runs_<run status>}} of one automation
    (runs_active: runs waiting on the step; runs_exited / runs_completed: runs that ended there)."""
    log = automation_steps_log
    found: dict[str, dict[str, int]] = {}
    entered = (
        sa.select(log.c.step_id, sa.func.count())
        .where(log.c.automation_id == automation_id)
        .group_by(log.c.step_id)
    )
    for step_id, count in await conn.execute(entered):
        found.setdefault(step_id, {})["entered"] = count
    mail = (
        sa.select(log.c.step_id, messages.c.status, sa.func.count())
        .join(messages, messages.c.id == log.c.message_id)
        .where(log.c.automation_id == automation_id)
        .group_by(log.c.step_id, messages.c.status)
    )
    for step_id, status, count in await conn.execute(mail):
        found.setdefault(step_id, {})[status] = count
    at_step = (
        sa.select(automation_runs.c.step_id, automation_runs.c.status, sa.func.count())
        .where(automation_runs.c.automation_id == automation_id, automation_runs.c.step_id.is_not(None))
        .group_by(automation_runs.c.step_id, automation_runs.c.status)
    )
    for step_id, status, count in await conn.execute(at_step):
        found.setdefault(step_id, {})[f"runs_{status}"] = count
    ev = message_events
    tracked = (
        sa.select(log.c.step_id, ev.c.type, sa.func.count(sa.distinct(ev.c.message_id)))
        .join(ev, ev.c.message_id == log.c.message_id)
        .where(log.c.automation_id == automation_id, sa.not_(ev.c.is_automated))
        .group_by(log.c.step_id, ev.c.type)
    )
    for step_id, kind, count in await conn.execute(tracked):
        found.setdefault(step_id, {})[kind] = count
    return found
