"""Queries on webhooks and the webhook delivery outbox (claim with a lease, record outcomes, prune).

A claim is fair: at most `per_webhook` due deliveries of each webhook are candidates (a window
function ranks each webhook's rows), the webhooks and projects already at their in-flight cap are
left out, and the candidates are taken round-robin across projects. The lease is the store's claim
form over the chosen ids (store/claims.py: update_listed): rows another dispatcher has locked are
skipped and rows it has leased are no longer due, so two dispatchers never lease the same delivery.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from sendhouse.store.claims import update_listed
from sendhouse.store.schema.core import projects
from sendhouse.store.schema.webhooks import webhook_deliveries as deliveries
from sendhouse.store.schema.webhooks import webhooks

SUCCESS_RETENTION = timedelta(hours=24)
FAILURE_RETENTION = timedelta(hours=48)


async def lock_project(conn: AsyncConnection, project_id: str) -> str | None:
    """Lock the project row (PostgreSQL) so per-project counts stay true; returns its organization."""
    query = sa.select(projects.c.organization_id).where(projects.c.id == project_id).with_for_update()
    return (await conn.execute(query)).scalar()


async def count_webhooks(conn: AsyncConnection, project_id: str) -> int:
    query = sa.select(sa.func.count()).select_from(webhooks).where(webhooks.c.project_id == project_id)
    return (await conn.execute(query)).scalar_one()


async def insert_webhook(conn: AsyncConnection, row: dict[str, Any]) -> None:
    await conn.execute(webhooks.insert().values(**row))


async def get_webhook(conn: AsyncConnection, project_id: str, webhook_id: str) -> dict | None:
    query = sa.select(webhooks).where(webhooks.c.id == webhook_id, webhooks.c.project_id == project_id)
    row = (await conn.execute(query)).mappings().first()
    return dict(row) if row else None


async def list_webhooks(
    conn: AsyncConnection, project_id: str, *, is_active: bool | None, offset: int, limit: int
) -> tuple[list[dict], int]:
    """A page of a project's webhooks, newest first, and how many there are in all."""
    where = [webhooks.c.project_id == project_id]
    if is_active is not None:
        where.append(webhooks.c.is_active == is_active)
    total = (await conn.execute(sa.select(sa.func.count()).select_from(webhooks).where(*where))).scalar_one()
    query = sa.select(webhooks).where(*where).order_by(webhooks.c.id.desc()).offset(offset).limit(limit)
    return [dict(r) for r in (await conn.execute(query)).mappings()], total


async def update_webhook(
    conn: AsyncConnection, project_id: str, webhook_id: str, values: dict[str, Any]
) -> bool:
    """Apply changes; turning an inactive webhook active resets its failure count (one UPDATE)."""
    if values.get("is_active") is True:
        values = {
            **values,
            "failure_count": sa.case((webhooks.c.is_active.is_(False), 0), else_=webhooks.c.failure_count),
        }
    stmt = (
        webhooks.update()
        .where(webhooks.c.id == webhook_id, webhooks.c.project_id == project_id)
        .values(**values)
    )
    return (await conn.execute(stmt)).rowcount == 1


async def delete_webhook(conn: AsyncConnection, project_id: str, webhook_id: str) -> bool:
    """Delete a webhook and its deliveries."""
    owned = sa.select(webhooks.c.id).where(webhooks.c.id == webhook_id, webhooks.c.project_id == project_id)
    await conn.execute(deliveries.delete().where(deliveries.c.webhook_id.in_(owned)))
    stmt = webhooks.delete().where(webhooks.c.id == webhook_id, webhooks.c.project_id == project_id)
    return (await conn.execute(stmt)).rowcount == 1


async def active_webhooks(conn: AsyncConnection, project_id: str) -> list[dict]:
    """[{id, events}] of the project's active webhooks."""
    return (await active_webhooks_of(conn, [project_id]))[project_id]


async def active_webhooks_of(conn: AsyncConnection, project_ids: list[str]) -> dict[str, list[dict]]:
    """{project: [{id, events}] of its active webhooks} for these projects, in one query."""
    found: dict[str, list[dict]] = {project_id: [] for project_id in project_ids}
    if not found:
        return found
    query = (
        sa.select(webhooks.c.project_id, webhooks.c.id, webhooks.c.events)
        .where(webhooks.c.project_id.in_(sorted(found)), webhooks.c.is_active.is_(True))
        .order_by(webhooks.c.id)
    )
    for row in (await conn.execute(query)).mappings():
        found[row["project_id"]].append({"id": row["id"], "events": row["events"]})
    return found


async def insert_deliveries(conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    if rows:
        await conn.execute(deliveries.insert(), rows)


async def list_deliveries(
    conn: AsyncConnection, webhook_id: str, *, offset: int, limit: int
) -> tuple[list[dict], int]:
    """A page of a webhook's delivery logs, newest first, and the total."""
    where = deliveries.c.webhook_id == webhook_id
    total = (await conn.execute(sa.select(sa.func.count()).select_from(deliveries).where(where))).scalar_one()
    query = sa.select(deliveries).where(where).order_by(deliveries.c.id.desc()).offset(offset).limit(limit)
    return [dict(r) for r in (await conn.execute(query)).mappings()], total


def _due(now: datetime) -> sa.ColumnElement[bool]:
    pending = sa.and_(deliveries.c.status == "pending", deliveries.c.next_attempt_at <= now)
    expired = sa.and_(deliveries.c.status == "delivering", deliveries.c.lease_expires_at <= now)
    return sa.or_(pending, expired)


@dataclass(frozen=True)
class Capacity:
    """What a claim may still take: rows in all, and per webhook and per project (in flight counted)."""

    limit: int
    per_webhook: int
    per_project: int
    webhooks_busy: dict[str, int] = field(default_factory=dict)
    projects_busy: dict[str, int] = field(default_factory=dict)


async def _candidates(conn: AsyncConnection, now: datetime, capacity: Capacity) -> list[dict]:
    """Due deliveries of active webhooks, at most per_webhook of each, oldest first within each."""
    rank = (
        sa.func.row_number()
        .over(partition_by=deliveries.c.webhook_id, order_by=(deliveries.c.next_attempt_at, deliveries.c.id))
        .label("rank")
    )
    ranked = (
        sa.select(
            deliveries.c.id,
            deliveries.c.webhook_id,
            deliveries.c.project_id,
            deliveries.c.next_attempt_at,
            rank,
        )
        .join(webhooks, webhooks.c.id == deliveries.c.webhook_id)
        .where(_due(now), webhooks.c.is_active.is_(True))
        .subquery()
    )
    query = (
        sa.select(ranked)
        .where(ranked.c.rank <= capacity.per_webhook)
        .order_by(ranked.c.rank, ranked.c.next_attempt_at, ranked.c.id)
        .limit(capacity.limit * capacity.per_webhook + capacity.per_webhook)
    )
    return [dict(r) for r in (await conn.execute(query)).mappings()]


def choose_fairly(candidates: list[dict], capacity: Capacity) -> list[str]:
    """Ids to lease: round-robin across projects, within the per-webhook and per-project caps."""
    by_project: dict[str, list[dict]] = {}
    for row in candidates:
        by_project.setdefault(row["project_id"], []).append(row)
    hooks, projects_ = dict(capacity.webhooks_busy), dict(capacity.projects_busy)
    chosen: list[str] = []
    while by_project and len(chosen) < capacity.limit:
        for project_id in list(by_project):
            row = by_project[project_id].pop(0)
            if not by_project[project_id]:
                del by_project[project_id]
            if (
                hooks.get(row["webhook_id"], 0) < capacity.per_webhook
                and projects_.get(project_id, 0) < capacity.per_project
                and len(chosen) < capacity.limit
            ):
                hooks[row["webhook_id"]] = hooks.get(row["webhook_id"], 0) + 1
                projects_[project_id] = projects_.get(project_id, 0) + 1
                chosen.append(row["id"])
    return chosen


async def claim_due(
    conn: AsyncConnection, *, owner: str, now: datetime, lease_until: datetime, capacity: Capacity
) -> list[dict]:
    """Lease due deliveries fairly (see the module docstring); returns them with their webhook's url and secret."""
    chosen = choose_fairly(await _candidates(conn, now, capacity), capacity)
    if not chosen:
        return []
    stmt = (
        update_listed(conn, deliveries, chosen, _due(now))
        .values(status="delivering", lease_owner=owner, lease_expires_at=lease_until)
        .returning(deliveries.c.id)
    )
    ids = [r[0] for r in await conn.execute(stmt)]
    if not ids:
        return []
    query = (
        sa.select(deliveries, webhooks.c.url.label("target_url"), webhooks.c.secret)
        .join(webhooks, webhooks.c.id == deliveries.c.webhook_id)
        .where(deliveries.c.id.in_(ids))
    )
    return [dict(r) for r in (await conn.execute(query)).mappings()]


async def finish_attempt(conn: AsyncConnection, delivery_id: str, owner: str, values: dict[str, Any]) -> bool:
    """Record an attempt's outcome, only while this owner still holds the lease."""
    stmt = (
        deliveries.update()
        .where(
            deliveries.c.id == delivery_id,
            deliveries.c.lease_owner == owner,
            deliveries.c.status == "delivering",
        )
        .values(attempts=deliveries.c.attempts + 1, lease_owner=None, lease_expires_at=None, **values)
    )
    return (await conn.execute(stmt)).rowcount == 1


async def mark_webhook(conn: AsyncConnection, webhook_id: str, *, success: bool, now: datetime) -> None:
    """Success stamps lastSuccessAt/lastDeliveredAt; a final failure counts and stamps lastFailedAt."""
    if success:
        values: dict[str, Any] = {"last_success_at": now, "last_delivered_at": now}
    else:
        values = {"failure_count": webhooks.c.failure_count + 1, "last_failed_at": now}
    await conn.execute(webhooks.update().where(webhooks.c.id == webhook_id).values(**values))


async def release(conn: AsyncConnection, owner: str) -> int:
    """Give back this owner's leased deliveries unattempted (graceful stop)."""
    stmt = (
        deliveries.update()
        .where(deliveries.c.lease_owner == owner, deliveries.c.status == "delivering")
        .values(status="pending", lease_owner=None, lease_expires_at=None)
    )
    return (await conn.execute(stmt)).rowcount


async def prune(conn: AsyncConnection, now: datetime) -> int:
    """Drop delivery logs past retention: successful after 24 h, failed after 48 h."""
    old_success = sa.and_(
        deliveries.c.status == "succeeded", deliveries.c.finished_at < now - SUCCESS_RETENTION
    )
    old_failure = sa.and_(deliveries.c.status == "failed", deliveries.c.finished_at < now - FAILURE_RETENTION)
    return (await conn.execute(deliveries.delete().where(sa.or_(old_success, old_failure)))).rowcount
