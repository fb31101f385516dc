"""Durable automation runs: enrolment, claim with a lease, advance, exit.

A claim is the store's one claim form (store/claims.py: update_chosen), as for the ledger. It
matches active runs that are due, whose automation is active, and that nobody leases (or whose
lease ran out: the runner holding it died). Advancing is one bulk
UPDATE conditional on the lease (store/bulk.py), so a run whose lease was lost meanwhile is not
advanced twice: the caller sees fewer rows changed than it gave and rolls its pass back.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from sendhouse.store.bulk import among, insert_many, update_by_id
from sendhouse.store.claims import update_chosen
from sendhouse.store.contacts import dialect_insert
from sendhouse.store.schema.audience import contacts
from sendhouse.store.schema.automations import automation_runs as runs
from sendhouse.store.schema.automations import automation_steps_log, automations

INSERT_CHUNK = 2000
ANALYZE_AFTER = 5000  # runs enrolled at once
ADVANCED = ("status", "step_id", "due_at", "exit_reason", "finished_at")
CLAIM_COLUMNS = (
    runs.c.id,
    runs.c.automation_id,
    runs.c.contact_id,
    runs.c.step_id,
    runs.c.due_at,
    runs.c.event,
)


async def enroll(conn: AsyncConnection, rows: list[dict]) -> None:
    """Insert new runs; an entry already made (same automation, contact and entry key) is skipped.
    After a large enrolment (an import) PostgreSQL's statistics of the table are refreshed at once:
    autovacuum would take up to a minute to notice, and until then the planner, believing the
    table nearly empty, answers each claim by sorting every due run instead of reading the claim
    index in order (measured: 250 ms instead of 17 ms per claim of 1,000 among 100,000 runs)."""
    for start in range(0, len(rows), INSERT_CHUNK):
        stmt = dialect_insert(conn, runs).on_conflict_do_nothing(
            index_elements=["automation_id", "contact_id", "entry_key"]
        )
        await conn.execute(stmt, rows[start : start + INSERT_CHUNK])
    if conn.dialect.name == "postgresql" and len(rows) >= ANALYZE_AFTER:
        await conn.execute(sa.text(f"ANALYZE {runs.name}"))


async def active_contacts(
    conn: AsyncConnection, automation_ids: list[str], contact_ids: list[str]
) -> set[tuple]:
    """(automation id, contact id) pairs that have an active run."""
    if not automation_ids or not contact_ids:
        return set()
    query = sa.select(runs.c.automation_id, runs.c.contact_id).where(
        runs.c.status == "active",
        runs.c.automation_id.in_(automation_ids),
        runs.c.contact_id.in_(contact_ids),
    )
    return {tuple(r) for r in await conn.execute(query)}


def _claimable(now: datetime) -> sa.ColumnElement:
    active = sa.select(automations.c.id).where(
        automations.c.status == "active", automations.c.deleted_at.is_(None)
    )
    return sa.and_(
        runs.c.status == "active",
        runs.c.due_at <= now,
        runs.c.automation_id.in_(active),
        sa.or_(runs.c.lease_expires_at.is_(None), runs.c.lease_expires_at < now),
    )


async def any_due(conn: AsyncConnection, now: datetime) -> bool:
    """Whether some run could be claimed now (a read, so an idle runner takes no write lock)."""
    return (await conn.execute(sa.select(runs.c.id).where(_claimable(now)).limit(1))).first() is not None


async def claim(
    conn: AsyncConnection, *, runner: str, limit: int, now: datetime, lease_seconds: float
) -> list[dict]:
    """Lease up to `limit` due runs to `runner`; commit at once, then carry their steps out."""
    if limit <= 0:
        return []
    chosen = sa.select(runs.c.id).where(_claimable(now)).order_by(runs.c.due_at).limit(limit)
    stmt = (
        update_chosen(conn, runs, chosen)
        .where(runs.c.status == "active")
        .values(lease_owner=runner, lease_expires_at=now + timedelta(seconds=lease_seconds), updated_at=now)
        .returning(*CLAIM_COLUMNS)
    )
    return [dict(r) for r in (await conn.execute(stmt)).mappings()]


async def release(conn: AsyncConnection, run_ids: list[str], runner: str, retry_at: datetime) -> None:
    """Give leases back without advancing (a step failed): the runs are due again at retry_at."""
    if run_ids:
        await conn.execute(
            runs.update()
            .where(runs.c.id.in_(run_ids), runs.c.lease_owner == runner)
            .values(lease_owner=None, lease_expires_at=None, due_at=retry_at)
        )


async def exit_all(conn: AsyncConnection, automation_id: str, reason: str, now: datetime) -> int:
    """Every active run of the automation ends (archive, delete)."""
    stmt = (
        runs.update()
        .where(runs.c.automation_id == automation_id, runs.c.status == "active")
        .values(
            status="exited",
            exit_reason=reason,
            finished_at=now,
            updated_at=now,
            lease_owner=None,
            lease_expires_at=None,
        )
    )
    return (await conn.execute(stmt)).rowcount


async def exit_on_removed_steps(
    conn: AsyncConnection, automation_id: str, step_ids: list[str], now: datetime
) -> int:
    """Active runs standing on a step that no longer exists exit (the steps were replaced)."""
    where = [runs.c.automation_id == automation_id, runs.c.status == "active"]
    if step_ids:
        where.append(sa.or_(runs.c.step_id.is_(None), runs.c.step_id.not_in(step_ids)))
    stmt = (
        runs.update()
        .where(*where)
        .values(
            status="exited",
            exit_reason="step_removed",
            finished_at=now,
            updated_at=now,
            lease_owner=None,
            lease_expires_at=None,
        )
    )
    return (await conn.execute(stmt)).rowcount


async def contacts_by_ids(conn: AsyncConnection, contact_ids: list[str]) -> list[dict]:
    """The stored rows of these contacts (the ones that still exist)."""
    if not contact_ids:
        return []
    query = sa.select(contacts).where(among(conn, contacts.c.id, contact_ids))
    return [dict(r) for r in (await conn.execute(query)).mappings()]


async def log_steps(conn: AsyncConnection, rows: list[dict]) -> None:
    """Step log rows (all with the same keys), in bulk."""
    await insert_many(conn, automation_steps_log, rows)


async def advance_many(conn: AsyncConnection, updates: list[dict], runner: str, now: datetime) -> int:
    """updates: [{run_id, status, step_id, due_at, exit_reason, finished_at}] of active runs this
    runner leases; each lease is given back. How many were advanced: fewer than given means some
    lease was lost (taken over, or the run ended meanwhile), and the caller must roll back."""
    rows = [{"id": u["run_id"], **{n: u[n] for n in ADVANCED}} for u in updates]
    return await update_by_id(
        conn,
        runs,
        rows,
        where={"lease_owner": runner, "status": "active"},
        fixed={"lease_owner": None, "lease_expires_at": None, "updated_at": now},
    )


async def give_back(conn: AsyncConnection, run_ids: list[str], runner: str) -> None:
    """Leases given back untouched: the runs are due as they were."""
    if run_ids:
        await conn.execute(
            runs.update()
            .where(runs.c.id.in_(run_ids), runs.c.lease_owner == runner)
            .values(lease_owner=None, lease_expires_at=None)
        )
