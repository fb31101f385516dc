"""Sending use cases the worker loop (worker.py) drives; the worker claims its rows through
store/ledger and builds messages with services/compose.Composer.

- record_outcomes: one write transaction per batch: 2xx → sent; 4xx / no reply → deferred with
  exponential backoff and jitter (retry_delay), failed after settings.max_attempts; 5xx → failed,
  a hard-bounce event, and the address suppressed in the project's global group (reason BOUNCE).
  plan_outcomes sorts the results; services/feedback.record writes them (ledger, events,
  suppressions, webhooks, auto-pause);
- the worker's bookkeeping: renew_leases, give_back (rows it will not send after all),
  pause_for_relay (a relay that keeps failing), database_clock_offset;
- housekeep: leases of dead workers back to queued, due deferred rows back to queued.
No transaction is ever held while talking SMTP.
"""

from __future__ import annotations

import random
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from sendhouse.delivery.base import PERMANENT, SENT, SKIPPED, SendResult
from sendhouse.domain import fates
from sendhouse.domain.times import utcnow
from sendhouse.observability import log_outcomes
from sendhouse.services import feedback
from sendhouse.services.campaigns import pause_for_reason
from sendhouse.store import kv, ledger
from sendhouse.store.db import Database

MAX_RETRY_DELAY = 6 * 3600.0


@dataclass
class Outcome:
    """One claimed row and what the transport answered (or why it was never sent)."""

    row: dict
    result: SendResult
    stopped_status: str | None = None  # for SKIPPED: the campaign status that stopped it


DEAD_GRACE = 10.0  # see dead_grace()
ORPHAN_LEASES = 10  # a live worker's rows are taken back only when their lease ran out this many leases ago


def retry_delay(attempt: int, base: float, rng: random.Random | None = None) -> float:
    """Seconds before retry number `attempt` (1-based): base × 2^(attempt-1), ±20 % jitter, capped."""
    jitter = (rng or random).uniform(0.8, 1.2)
    return min(MAX_RETRY_DELAY, base * (2 ** max(0, attempt - 1))) * jitter


def dead_grace(lease_seconds: float) -> float:
    """Seconds a worker whose liveness lock is free must also have gone without renewing its
    leases before they are taken back: a worker whose database session was cut has no lock until
    it reconnects, but it is alive, and the mail it has in hand must not go out twice."""
    return min(DEAD_GRACE, lease_seconds)


def housekeeping_rules(lease_seconds: float) -> dict[str, Any]:
    """housekeep()'s `orphan_after` and `quiet` for workers leasing rows for `lease_seconds`: what
    the worker's own housekeeping and the housekeeping duty both use."""
    return {
        "orphan_after": ORPHAN_LEASES * lease_seconds,
        "quiet": (dead_grace(lease_seconds), lease_seconds),
    }


async def housekeep(
    db: Database,
    now: datetime,
    *,
    mine: Collection[str] = (),
    orphan_after: float = 3600.0,
    quiet: tuple[float, float] | None = None,
) -> tuple[int, int]:
    """(leased rows taken back, deferred rows now due), both returned to queued. Leases are taken
    back from workers that are gone (their liveness lock is free; never those of `mine`, the
    workers of the calling process, which are alive whatever their session looks like; with
    `quiet` = (grace, lease_seconds), only rows not renewed for `grace` seconds), never from a live
    worker unless its lease ran out more than `orphan_after` seconds ago (it lost track of the rows)."""
    async with db.read() as conn:
        owners = await ledger.lease_owners(conn)
    dead = await db.fence.dead_owners(owners - set(mine))
    # a row renewed at t expires at t + lease_seconds: "not renewed since now - grace"
    expiring_before = now + timedelta(seconds=quiet[1] - quiet[0]) if quiet else None
    async with db.write() as conn:
        expired = await ledger.expire_leases(
            conn,
            now,
            dead=dead,
            orphaned_before=now - timedelta(seconds=orphan_after),
            dead_expiring_before=expiring_before,
        )
        return expired, await ledger.promote_deferred(conn, now)


@dataclass
class Plan:
    """The ledger writes one batch of outcomes turns into."""

    sent: list[dict]
    deferred: list[dict]
    failed: list[dict]
    bounced: list[Outcome]
    requeue: list[str]
    cancel: list[str]


def plan_outcomes(
    outcomes: list[Outcome],
    *,
    max_attempts: int,
    retry_base: float,
    now: datetime,
    rng: random.Random | None = None,
) -> Plan:
    """Sort outcomes into sent / deferred / failed / released rows (pure)."""
    plan = Plan([], [], [], [], [], [])
    for item in outcomes:
        _plan_one(plan, item, max_attempts, retry_base, now, rng)
    return plan


def _plan_one(plan: Plan, item: Outcome, max_attempts: int, retry_base: float, now: datetime, rng) -> None:
    row, result = item.row, item.result
    if result.outcome == SKIPPED:
        (plan.cancel if item.stopped_status == "aborted" else plan.requeue).append(row["id"])
    elif result.outcome == SENT:
        plan.sent.append({"row_id": row["id"], "response": _reply(result)})
    elif result.outcome == PERMANENT:
        plan.failed.append({"row_id": row["id"], "error": _reply(result), "response": _reply(result)})
        if result.hard_bounce:  # a real 5xx reply, not a message we could not build
            plan.bounced.append(item)
    elif row["attempts"] + 1 >= max_attempts:
        plan.failed.append({"row_id": row["id"], "error": _reply(result), "response": _reply(result)})
    else:
        delay = retry_delay(row["attempts"] + 1, retry_base, rng)
        plan.deferred.append(
            {"row_id": row["id"], "error": _reply(result), "retry_at": now + timedelta(seconds=delay)}
        )


def _reply(result: SendResult) -> str:
    text = f"{result.code} {result.response}" if result.code else result.response
    return text.strip()[:1000]


async def record_outcomes(
    db: Database,
    outcomes: list[Outcome],
    *,
    max_attempts: int,
    retry_base: float,
    now: datetime,
    worker: str,
    refund: tuple[str, float] | None = None,
) -> Plan:
    """Commit a batch's results in one transaction (after the relay answered, never before), their
    fates through services/feedback.record. refund: the send-rate bucket (key, burst) the batch's
    tokens came from; rows that never reached the relay (released or cancelled at the gate) give
    their token back."""
    plan = plan_outcomes(outcomes, max_attempts=max_attempts, retry_base=retry_base, now=now)
    async with db.write(quick=True) as conn:
        await feedback.record(conn, fates_of(plan, outcomes), now=now, worker=worker)
        await ledger.release(conn, plan.requeue, status="queued", now=now, worker=worker)
        await ledger.release(conn, plan.cancel, status="cancelled", now=now, worker=worker)
        if refund is not None:
            await kv.give_back(conn, refund[0], len(plan.requeue) + len(plan.cancel), burst=refund[1])
    log_outcomes(
        plan, {item.row["id"]: item.row for item in outcomes}
    )  # after the commit: what really happened
    return plan


def fates_of(plan: Plan, outcomes: list[Outcome]) -> list[fates.FateRecord]:
    """The fate records of a plan, in webhook order: sent, deferred, failed, refused at SMTP time."""
    rows = {item.row["id"]: item.row for item in outcomes}
    refused = {item.row["id"] for item in plan.bounced}
    return [
        *(fates.Sent(rows[i["row_id"]], response=i["response"]) for i in plan.sent),
        *(fates.Deferred(rows[i["row_id"]], error=i["error"], retry_at=i["retry_at"]) for i in plan.deferred),
        *(
            fates.Failed(rows[i["row_id"]], error=i["error"], response=i["response"])
            for i in plan.failed
            if i["row_id"] not in refused
        ),
        *(fates.Bounced.at_smtp(item.row, item.result.code, item.result.response) for item in plan.bounced),
    ]


async def pause_for_relay(db: Database, campaign_ids: list[str], reason: str, now: datetime) -> list[str]:
    """Pause these campaigns because the relay keeps failing; the ids actually paused."""
    paused = []
    async with db.write() as conn:
        for campaign_id in campaign_ids:
            if await pause_for_reason(conn, campaign_id, reason, now):
                paused.append(campaign_id)
    return paused


async def renew_leases(db: Database, worker_id: str, now: datetime, lease_seconds: float) -> int:
    async with db.write(quick=True) as conn:
        return await ledger.renew_leases(conn, worker_id, now, lease_seconds)


async def give_back(db: Database, row_ids: list[str], worker: str, now: datetime) -> None:
    """Leased rows this worker will not send after all (e.g. their batch could not be built) back to queued."""
    async with db.write() as conn:
        await ledger.release(conn, row_ids, status="queued", now=now, worker=worker)


async def database_clock_offset(db: Database) -> timedelta:
    """How far the database server's clock is ahead of ours (zero on SQLite: one host, one clock)."""
    if db.is_sqlite:
        return timedelta(0)
    before = utcnow()
    async with db.read() as conn:
        server = (await conn.execute(sa.text("SELECT clock_timestamp()"))).scalar_one()
    return server - (before + (utcnow() - before) / 2)
