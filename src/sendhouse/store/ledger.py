"""The send ledger (`messages`): inserting rows, claiming, leasing, recording outcomes, recovering
crashed leases, cancelling. The one module that writes SQL changing `messages` (reads of it for
analytics, metrics and webhook payloads live with those queries).

Each function takes an AsyncConnection inside the caller's transaction; every state change is a
conditional UPDATE. Row life:

    queued -> sending (leased) -> sent | deferred (retry at) | failed
    queued/deferred -> cancelled (abort) | suppressed (skipped at send time)
    sent -> bounced (a hard bounce reported after delivery)

A claim, a release of held rows and a hold are each one UPDATE of chosen rows (store/claims.py:
a materialized CTE with FOR UPDATE SKIP LOCKED on PostgreSQL, `IN (SELECT …)` on SQLite). A claim
matches only rows whose campaign is sending (or transactional rows), due now, best priority first.
Rows of a gradual campaign wait with next_attempt_at = HOLD_UNTIL until the scheduler releases them.

Every status change the campaign counters count (store/counters.py: sent, bounced, failed,
cancelled) is reported to them from what the statement really changed: the rows are locked and
read first (executemany UPDATEs), or the UPDATE returns them, or (rows marked sent, whose campaign
the caller names) one executemany per campaign is counted by its row count.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from sendhouse.domain import ids
from sendhouse.domain.campaigns import CANCELLABLE_MESSAGES
from sendhouse.store import counters
from sendhouse.store.bulk import insert_few, insert_many
from sendhouse.store.campaigns import lock_for_update
from sendhouse.store.claims import update_chosen
from sendhouse.store.schema.campaigns import campaigns, messages

SENDING_CAMPAIGN = ("sending", "sending_gradual")
PENDING = ("queued", "sending", "deferred")
FINAL = ("sent", "failed", "bounced", "cancelled", "suppressed")
HOLD_UNTIL = datetime(2999, 1, 1, tzinfo=UTC)
TRANSACTIONAL_PRIORITY, CAMPAIGN_PRIORITY = 10, 100
INSERT_CHUNK = 1000
ROW_DIGITS = 7  # per-campaign row number in hex: up to 268 million recipients

CLAIM_COLUMNS = (
    messages.c.id,
    messages.c.project_id,
    messages.c.campaign_id,
    messages.c.kind,
    messages.c.contact_id,
    messages.c.email,
    messages.c.name,
    messages.c.message_id_header,
    messages.c.payload,
    messages.c.attempts,
)


# --- reads ---------------------------------------------------------------------------------


async def payload_of(conn: AsyncConnection, row_id: str) -> dict:
    """A ledger row's payload ({} when the row or its payload is missing)."""
    query = sa.select(messages.c.payload).where(messages.c.id == row_id)
    return (await conn.execute(query)).scalar_one_or_none() or {}


# --- new rows -------------------------------------------------------------------------------


async def insert_rows(conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    """Insert ledger rows (transactional mail) in chunks."""
    for start in range(0, len(rows), INSERT_CHUNK):
        await conn.execute(messages.insert(), rows[start : start + INSERT_CHUNK])


async def insert_bulk(conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    """Insert many ledger rows with the same keys (an automation pass's mail) below SQLAlchemy's
    per-row handling: store/bulk, executemany on SQLite, COPY on PostgreSQL."""
    await insert_many(conn, messages, rows)


async def insert_few_rows(conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    """Insert a few ledger rows with the same keys (a group commit of SMTP submissions) on the
    driver, below SQLAlchemy's per-row handling (store/bulk.insert_few): on SQLite one prepared
    statement, on PostgreSQL one multi-row INSERT (COPY costs more than it saves for a few rows)."""
    await insert_few(conn, messages, rows)


CAMPAIGN_COLUMNS = (
    "id",
    "project_id",
    "campaign_id",
    "kind",
    "priority",
    "contact_id",
    "email",
    "name",
    "status",
    "attempts",
    "next_attempt_at",
    "message_id_header",
    "created_at",
    "updated_at",
)


async def insert_campaign_rows(
    conn: AsyncConnection, campaign: dict, recipients: sa.Select, due: datetime, now: datetime
) -> int:
    """One queued row per recipient of `recipients` (a SELECT of contacts' id, email, first_name,
    last_name) in one INSERT … SELECT, due at `due`; how many rows the campaign has now. Ids are
    `<8 hex seconds><9 random hex><7 hex row number>` (24 hex, unique, ordered by campaign start then
    contact id), the Message-ID `<id@domain>`."""
    await conn.execute(_campaign_insert(conn.dialect.name, campaign, recipients, due, now))
    counted = sa.select(sa.func.count()).where(
        messages.c.campaign_id == campaign["id"]
    )  # rowcount: -1 on psycopg
    rows = (await conn.execute(counted)).scalar_one()
    await counters.start(conn, campaign["id"], rows)
    return rows


def _campaign_insert(
    dialect: str, campaign: dict, recipients: sa.Select, due: datetime, now: datetime
) -> sa.Insert:
    numbered = recipients.add_columns(
        sa.func.row_number().over(order_by=recipients.selected_columns.id).label("rn")
    ).subquery()
    row_id = sa.literal(_id_prefix(now)) + _hex(dialect, numbered.c.rn)
    name = sa.func.nullif(
        sa.func.trim(
            sa.func.coalesce(numbered.c.first_name, "") + " " + sa.func.coalesce(numbered.c.last_name, "")
        ),
        "",
    )
    stamp = sa.literal(now, type_=messages.c.created_at.type)
    select = sa.select(
        row_id,
        sa.literal(campaign["project_id"]),
        sa.literal(campaign["id"]),
        sa.literal("campaign"),
        sa.literal(CAMPAIGN_PRIORITY),
        numbered.c.id,
        numbered.c.email,
        sa.func.substr(name, 1, 200),
        sa.literal("queued"),
        sa.literal(0),
        sa.literal(due, type_=messages.c.next_attempt_at.type),
        sa.literal("<") + row_id + sa.literal(f"@{ids.message_id_domain(campaign.get('from_email'))}>"),
        stamp,
        stamp,
    )
    return messages.insert().from_select(list(CAMPAIGN_COLUMNS), select)


def _id_prefix(now: datetime) -> str:
    return f"{int(now.timestamp()) & 0xFFFFFFFF:08x}{secrets.token_hex(5)[:9]}"


def _hex(dialect: str, number: sa.ColumnElement) -> sa.ColumnElement:
    if dialect == "sqlite":
        return sa.func.printf(f"%0{ROW_DIGITS}x", number)
    return sa.func.lpad(sa.func.to_hex(number), ROW_DIGITS, "0")


# --- claiming and outcomes -------------------------------------------------------------------


def _claimable(now: datetime) -> sa.ColumnElement:
    sending = sa.select(campaigns.c.id).where(campaigns.c.status.in_(SENDING_CAMPAIGN))
    return sa.and_(
        messages.c.status == "queued",
        messages.c.next_attempt_at <= now,
        sa.or_(messages.c.kind == "transactional", messages.c.campaign_id.in_(sending)),
    )


async def claim(
    conn: AsyncConnection, *, worker: str, limit: int, now: datetime, lease_seconds: float
) -> list[dict]:
    """Lease up to `limit` due rows to `worker`; commit at once and send outside the transaction."""
    if limit <= 0:
        return []
    chosen = (
        sa.select(messages.c.id)
        .where(_claimable(now))
        .order_by(messages.c.priority, messages.c.next_attempt_at)
        .limit(limit)
    )
    stmt = (
        update_chosen(conn, messages, chosen)
        .where(messages.c.status == "queued")
        .values(
            status="sending",
            lease_owner=worker,
            lease_expires_at=now + timedelta(seconds=lease_seconds),
            updated_at=now,
        )
        .returning(*CLAIM_COLUMNS)
    )
    return [dict(r) for r in (await conn.execute(stmt)).mappings()]


def _held(worker: str | None) -> tuple[sa.ColumnElement, ...]:
    """Rows this worker still leases (any pending row when worker is None)."""
    if worker:
        return messages.c.status == "sending", messages.c.lease_owner == worker
    return (sa.or_(*(messages.c.status == status for status in PENDING)),)  # no IN: executemany


def _by_id(worker: str | None, **values) -> sa.Update:
    """UPDATE of one row by :row_id that this worker still leases (any pending row when worker is None)."""
    return (
        messages.update()
        .where(messages.c.id == sa.bindparam("row_id"), *_held(worker))
        .values(lease_owner=None, lease_expires_at=None, **values)
    )


async def _locked(conn: AsyncConnection, row_ids: list[str], *, held_by: str | None) -> list[dict]:
    """{id, campaign_id} of the rows among these that `_by_id(held_by)` matches, locked until the
    transaction ends (SQLite: the writer's lock), so the UPDATE that follows changes exactly them."""
    query = (
        sa.select(messages.c.id, messages.c.campaign_id)
        .where(messages.c.id.in_(sorted(set(row_ids))), *_held(held_by))
        .order_by(messages.c.id)
        .with_for_update()
    )
    return [dict(r) for r in (await conn.execute(query)).mappings()]


async def mark_sent(conn: AsyncConnection, rows: list[dict], now: datetime) -> None:
    """rows: [{row_id, response, campaign_id?}] accepted by the relay. A 250 is the truth even if the
    lease was lost meanwhile, so any pending row is marked (the other holder's later write then
    misses). Rows that say their campaign are updated one executemany per campaign, in id order,
    and counted from its row count; the others are locked and read first."""
    if not rows:
        return
    stmt = _by_id(
        None,
        status="sent",
        sent_at=now,
        updated_at=now,
        attempts=messages.c.attempts + 1,
        smtp_response=sa.bindparam("response"),
        last_error=None,
    )
    unknown = [r for r in rows if "campaign_id" not in r]
    if unknown:
        moving = await _locked(conn, [r["row_id"] for r in unknown], held_by=None)
        await conn.execute(stmt, unknown)
        await counters.moved(conn, ((r["campaign_id"], "ledger_sent", 1) for r in moving))
    for campaign_id, group in _by_campaign([r for r in rows if "campaign_id" in r]).items():
        changed = (await conn.execute(stmt, group)).rowcount  # executemany: the sum over the group
        await counters.moved(conn, [(campaign_id, "ledger_sent", changed)])


def _by_campaign(rows: list[dict]) -> dict[str | None, list[dict]]:
    """{campaign_id: [{row_id, response}] in id order} (the order every writer locks rows in)."""
    grouped: dict[str | None, list[dict]] = {}
    for row in sorted(rows, key=lambda r: r["row_id"]):
        grouped.setdefault(row["campaign_id"], []).append(
            {"row_id": row["row_id"], "response": row["response"]}  # a campaign_id key would be SET
        )
    return grouped


async def mark_deferred(conn: AsyncConnection, rows: list[dict], now: datetime, worker: str | None) -> None:
    """rows: [{row_id, error, retry_at}] to try again later (only rows `worker` still leases; any
    pending row when worker is None)."""
    if rows:
        stmt = _by_id(
            worker,
            status="deferred",
            updated_at=now,
            attempts=messages.c.attempts + 1,
            next_attempt_at=sa.bindparam("retry_at", type_=messages.c.next_attempt_at.type),
            last_error=sa.bindparam("error"),
        )
        await conn.execute(stmt, rows)


async def mark_failed(conn: AsyncConnection, rows: list[dict], now: datetime, worker: str | None) -> None:
    """rows: [{row_id, error, response}] that will never be retried (only rows `worker` still leases;
    any pending row when worker is None)."""
    if rows:
        moving = await _locked(conn, [r["row_id"] for r in rows], held_by=worker)
        stmt = _by_id(
            worker,
            status="failed",
            failed_at=now,
            updated_at=now,
            attempts=messages.c.attempts + 1,
            last_error=sa.bindparam("error"),
            smtp_response=sa.bindparam("response"),
        )
        await conn.execute(stmt, rows)
        await counters.moved(conn, ((r["campaign_id"], "ledger_failed", 1) for r in moving))
        await counters.failed(conn, moving)


async def release(
    conn: AsyncConnection, row_ids: list[str], *, status: str, now: datetime, worker: str
) -> None:
    """Give leased rows back without an attempt: `queued` (paused, stopping) or `cancelled`
    (aborted). A row given back as queued whose campaign has been aborted meanwhile is cancelled."""
    if not row_ids:
        return
    new_status: str | sa.Case = status
    if status == "queued":
        aborted = sa.select(campaigns.c.id).where(campaigns.c.status == "aborted")
        new_status = sa.case((messages.c.campaign_id.in_(aborted), "cancelled"), else_="queued")
    stmt = (
        messages.update()
        .where(messages.c.id.in_(sorted(set(row_ids))), *_held(worker))
        .values(status=new_status, lease_owner=None, lease_expires_at=None, updated_at=now)
        .returning(messages.c.campaign_id, messages.c.status)
    )
    changed = (await conn.execute(stmt)).all()
    await counters.moved(conn, ((cid, "ledger_cancelled", 1) for cid, fate in changed if fate == "cancelled"))


async def mark_bounced(conn: AsyncConnection, row_ids: list[str], now: datetime) -> set[str]:
    """Delivered (`sent`) rows become `bounced` (a hard bounce reported later); the ids that changed."""
    if not row_ids:
        return set()
    stmt = (
        messages.update()
        .where(messages.c.id.in_(sorted(set(row_ids))), messages.c.status == "sent")
        .values(status="bounced", failed_at=now, updated_at=now)
        .returning(messages.c.id, messages.c.campaign_id)
    )
    changed = (await conn.execute(stmt)).all()
    await counters.moved(
        conn,
        [change for _id, cid in changed for change in ((cid, "ledger_sent", -1), (cid, "ledger_bounced", 1))],
    )
    return {row_id for row_id, _campaign in changed}


async def cancel_pending(conn: AsyncConnection, campaign_id: str, now: datetime) -> int:
    """Every queued or deferred row of the campaign becomes cancelled (abort); how many."""
    stmt = (
        messages.update()
        .where(messages.c.campaign_id == campaign_id, messages.c.status.in_(CANCELLABLE_MESSAGES))
        .values(status="cancelled", updated_at=now)
    )
    cancelled = (await conn.execute(stmt)).rowcount
    await counters.moved(conn, [(campaign_id, "ledger_cancelled", cancelled)])
    return cancelled


async def renew_leases(conn: AsyncConnection, worker: str, now: datetime, lease_seconds: float) -> int:
    """Extend every lease `worker` holds to now + lease_seconds; how many rows."""
    stmt = (
        messages.update()
        .where(messages.c.status == "sending", messages.c.lease_owner == worker)
        .values(lease_expires_at=now + timedelta(seconds=lease_seconds))
    )
    return (await conn.execute(stmt)).rowcount


async def lease_owners(conn: AsyncConnection) -> set[str]:
    """The workers holding leased (`sending`) rows now."""
    query = sa.select(messages.c.lease_owner).where(messages.c.status == "sending").distinct()
    return {owner for owner in (await conn.execute(query)).scalars() if owner}


async def expire_leases(
    conn: AsyncConnection,
    now: datetime,
    *,
    dead: set[str] | None = None,
    orphaned_before: datetime | None = None,
    dead_expiring_before: datetime | None = None,
) -> int:
    """Leased rows go back to `queued`; how many. Without `dead`: rows whose lease ran out. With it:
    every row of a dead owner (only those whose lease expires before `dead_expiring_before`, when
    given: not renewed lately), and rows of other owners whose lease ran out before `orphaned_before`."""
    if dead is None:
        taken_back = messages.c.lease_expires_at < now
    else:
        of_dead: sa.ColumnElement[bool] = messages.c.lease_owner.in_(sorted(dead))
        if dead_expiring_before is not None:
            of_dead = sa.and_(of_dead, messages.c.lease_expires_at < dead_expiring_before)
        taken_back = sa.or_(of_dead, messages.c.lease_expires_at < (orphaned_before or now))
    stmt = (
        messages.update()
        .where(messages.c.status == "sending", taken_back)
        .values(status="queued", lease_owner=None, lease_expires_at=None, updated_at=now)
    )
    return (await conn.execute(stmt)).rowcount


async def promote_deferred(conn: AsyncConnection, now: datetime) -> int:
    """Deferred rows whose retry time has come become `queued` (claimable) again; how many."""
    stmt = (
        messages.update()
        .where(messages.c.status == "deferred", messages.c.next_attempt_at <= now)
        .values(status="queued", updated_at=now)
    )
    return (await conn.execute(stmt)).rowcount


async def campaign_statuses(conn: AsyncConnection, campaign_ids: list[str]) -> dict[str, str]:
    """The current status of each of these campaigns."""
    if not campaign_ids:
        return {}
    query = sa.select(campaigns.c.id, campaigns.c.status).where(campaigns.c.id.in_(campaign_ids))
    return dict((await conn.execute(query)).all())


async def released_count(conn: AsyncConnection, campaign_id: str) -> int:
    """Rows of a gradual campaign no longer held back (whatever their status now)."""
    query = sa.select(sa.func.count()).where(
        messages.c.campaign_id == campaign_id, messages.c.next_attempt_at < HOLD_UNTIL
    )
    return (await conn.execute(query)).scalar_one()


async def release_held(conn: AsyncConnection, campaign_id: str, count: int, now: datetime) -> int:
    """Make up to `count` held rows of a gradual campaign claimable now (oldest ids first)."""
    if count <= 0:
        return 0
    held = (
        sa.select(messages.c.id)
        .where(messages.c.campaign_id == campaign_id, messages.c.next_attempt_at >= HOLD_UNTIL)
        .order_by(messages.c.id)
        .limit(count)
    )
    stmt = (
        update_chosen(conn, messages, held)
        .where(messages.c.next_attempt_at >= HOLD_UNTIL)
        .values(next_attempt_at=now, updated_at=now)
    )
    return (await conn.execute(stmt)).rowcount


async def hold_beyond(conn: AsyncConnection, campaign_id: str, allowance: int, now: datetime) -> int:
    """Hold back queued rows released beyond `allowance` (newest ids first); how many were held.
    Takes the campaign's row lock first, so concurrent holds (and the releases that follow in the
    same transaction) count the released rows one after another."""
    await lock_for_update(conn, campaign_id)
    excess = await released_count(conn, campaign_id) - allowance
    if excess <= 0:
        return 0
    newest = (
        sa.select(messages.c.id)
        .where(
            messages.c.campaign_id == campaign_id,
            messages.c.status == "queued",
            messages.c.next_attempt_at < HOLD_UNTIL,
        )
        .order_by(messages.c.id.desc())
        .limit(excess)
    )
    stmt = (
        update_chosen(conn, messages, newest)
        .where(messages.c.status == "queued")
        .values(next_attempt_at=HOLD_UNTIL, updated_at=now)
    )
    return (await conn.execute(stmt)).rowcount
