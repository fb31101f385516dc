"""Per-campaign counters (`campaign_counters`): how many ledger rows a campaign has and how many
of them are sent, bounced, failed or cancelled (the rest are pending), and how many of its
recipients opened, clicked, bounced, complained or unsubscribed. Campaign reads take one row
instead of counting the ledger and its events.

They are kept, never estimated, so a counter always equals `recount`:
- store/ledger.py reports every status change it makes (`moved`), from what each statement
  really changed (rows locked and read first, or RETURNING);
- store/events.py reports every campaign event it inserts (`inserted`);
- a row of a campaign becoming failed is reported too (`failed`): a failed row with a bounced
  event counts as refused at SMTP time.
All of it gathers in the write transaction's tally and is written just before its COMMIT
(store/scoped.py: `Tally.flush`): the counter rows are locked (PostgreSQL; sorted by campaign),
then whether an event is a recipient's first of its kind is judged against the events other
transactions committed, then one UPDATE per campaign. Two transactions judging the same recipient
are so serialised, the later one seeing the earlier one's events; and counter locks, always the
last a transaction takes, never enter a deadlock.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from sendhouse.store.contacts import dialect_insert
from sendhouse.store.schema.campaigns import COUNTER_COLUMNS, campaign_counters, messages
from sendhouse.store.schema.feedback import message_events as ev
from sendhouse.store.scoped import transaction_scoped

FIELDS = COUNTER_COLUMNS
COUNTED_STATUSES = {
    "sent": "ledger_sent",
    "bounced": "ledger_bounced",
    "failed": "ledger_failed",
    "cancelled": "ledger_cancelled",
}
COUNTED_EVENTS = {
    "opened": "opened",
    "clicked": "clicked",
    "bounced": "bounced",
    "complained": "complained",
    "unsubscribed": "unsubscribed",
}
Deltas = dict[str, Counter]  # campaign id -> {counter: change}


@dataclass
class Tally:
    """What one write transaction changed that the counters count, written by `flush`."""

    moves: Deltas = field(default_factory=dict)  # ledger status changes (exact already)
    events: list[dict] = field(default_factory=list)  # campaign events inserted, of counted types
    failed: dict[str, str] = field(default_factory=dict)  # ledger row -> campaign, rows made failed

    async def flush(self, conn: AsyncConnection) -> None:
        campaign_ids = {*self.moves, *(e["campaign_id"] for e in self.events), *self.failed.values()}
        if not campaign_ids:
            return
        if self.events or self.failed:  # judged below: lock first (an UPDATE alone locks as it goes)
            await _lock(conn, campaign_ids)
        await _add(conn, _merged(self.moves, await _judged(conn, self)))
        self.moves, self.events, self.failed = {}, [], {}


def _tally(conn: AsyncConnection) -> tuple[Tally, bool]:
    """(this transaction's tally, whether it must be flushed now: no Database.write() around conn)."""
    scoped = transaction_scoped(conn, "counters", Tally)
    return (scoped, False) if scoped is not None else (Tally(), True)


async def moved(conn: AsyncConnection, changes: Iterable[tuple[str | None, str, int]]) -> None:
    """Ledger rows changed status: (campaign id, counter, change); rows without a campaign are left out."""
    tally, now = _tally(conn)
    for campaign_id, name, change in changes:
        if campaign_id is not None:
            tally.moves.setdefault(campaign_id, Counter())[name] += change
    if now:
        await tally.flush(conn)


async def failed(conn: AsyncConnection, rows: Iterable[dict]) -> None:
    """Ledger rows ({id, campaign_id}) this transaction made failed (counted as failed by `moved`)."""
    tally, now = _tally(conn)
    tally.failed.update({r["id"]: r["campaign_id"] for r in rows if r["campaign_id"]})
    if now:
        await tally.flush(conn)


async def inserted(conn: AsyncConnection, events: Iterable[dict]) -> None:
    """Event rows this transaction inserted (those of campaigns and of counted types are kept)."""
    tally, now = _tally(conn)
    tally.events += [e for e in events if e["campaign_id"] and e["type"] in COUNTED_EVENTS]
    if now:
        await tally.flush(conn)


# --- writing -----------------------------------------------------------------------------------


async def start(conn: AsyncConnection, campaign_id: str, rows: int) -> None:
    """The counters of a campaign whose `rows` ledger rows were just inserted (all pending)."""
    stmt = dialect_insert(conn, campaign_counters).values(campaign_id=campaign_id, ledger_rows=rows)
    await conn.execute(stmt.on_conflict_do_update(index_elements=["campaign_id"], set_={"ledger_rows": rows}))


async def _lock(conn: AsyncConnection, campaign_ids: Iterable[str]) -> None:
    """Hold these campaigns' counter rows until the transaction ends (PostgreSQL; SQLite's single
    writer already excludes every other writer)."""
    if conn.dialect.name == "postgresql":
        query = (
            sa.select(campaign_counters.c.campaign_id)
            .where(campaign_counters.c.campaign_id.in_(sorted(campaign_ids)))
            .order_by(campaign_counters.c.campaign_id)
            .with_for_update()
        )
        await conn.execute(query)


_ADD = (
    campaign_counters.update()
    .where(campaign_counters.c.campaign_id == sa.bindparam("cid"))
    .values(
        {name: campaign_counters.c[name] + sa.bindparam(f"d_{name}", type_=sa.Integer) for name in FIELDS}
    )
)


async def _add(conn: AsyncConnection, deltas: Deltas) -> None:
    params = [
        {"cid": cid, **{f"d_{name}": change.get(name, 0) for name in FIELDS}}
        for cid, change in sorted(deltas.items())
        if any(change.values())
    ]
    if params:
        await conn.execute(_ADD, params)


def _merged(*parts: Deltas) -> Deltas:
    found: Deltas = {}
    for part in parts:
        for cid, change in part.items():
            found.setdefault(cid, Counter()).update(change)
    return found


# --- judging events: a recipient's first of each kind ------------------------------------------


async def _judged(conn: AsyncConnection, tally: Tally) -> Deltas:
    """The counter changes of the tally's events and failed rows, judged against every event and
    status visible now (flush: after the counter locks; estimate: without them)."""
    if not tally.events and not tally.failed:
        return {}
    before = await _events_before(conn, tally)
    bounced = {e["message_id"] for e in tally.events if e["type"] == "bounced"}
    failed_now = set(tally.failed) | await _failed_rows(conn, bounced - set(tally.failed))
    pairs, seen = [], set(before)
    for event in tally.events:
        pairs += _firsts(event, seen)
    campaign_of = {**{e["message_id"]: e["campaign_id"] for e in tally.events}, **tally.failed}
    for row_id in sorted(set(tally.failed) | bounced):
        was_reported = (row_id, "bounced") in before
        reported_now = was_reported or row_id in bounced
        if row_id in failed_now and reported_now and (row_id in tally.failed or not was_reported):
            pairs.append((campaign_of[row_id], "failed_bounced"))
    found: Deltas = {}
    for campaign_id, name in pairs:
        found.setdefault(campaign_id, Counter())[name] += 1
    return found


def _firsts(event: dict, seen: set[tuple[str, str]]) -> list[tuple[str, str]]:
    """(campaign, counter) of what this event is the recipient's first of; marks it seen."""
    found, row_id, kind = [], event["message_id"], event["type"]
    if (row_id, kind) not in seen:
        seen.add((row_id, kind))
        found.append((event["campaign_id"], COUNTED_EVENTS[kind]))
    if kind == "opened" and not event.get("is_automated") and (row_id, "human") not in seen:
        seen.add((row_id, "human"))
        found.append((event["campaign_id"], "human_opened"))
    return found


async def _events_before(conn: AsyncConnection, tally: Tally) -> set[tuple[str, str]]:
    """(ledger row, event type) of the counted events other than the tally's that these rows have,
    plus (row, "human") for a row opened by a person (an open not flagged automated)."""
    row_ids = sorted({e["message_id"] for e in tally.events} | set(tally.failed))
    mine = [e["id"] for e in tally.events] or ["-"]
    automated = sa.func.min(sa.case((ev.c.is_automated, 1), else_=0))
    query = (
        sa.select(ev.c.message_id, ev.c.type, automated)
        .where(ev.c.message_id.in_(row_ids), ev.c.type.in_(list(COUNTED_EVENTS)), ev.c.id.not_in(mine))
        .group_by(ev.c.message_id, ev.c.type)
    )
    found = set()
    for row_id, kind, all_automated in await conn.execute(query):
        found.add((row_id, kind))
        if kind == "opened" and not all_automated:
            found.add((row_id, "human"))
    return found


async def _failed_rows(conn: AsyncConnection, row_ids: set[str]) -> set[str]:
    if not row_ids:
        return set()
    query = sa.select(messages.c.id).where(messages.c.id.in_(sorted(row_ids)), messages.c.status == "failed")
    return set((await conn.execute(query)).scalars())


# --- reading -----------------------------------------------------------------------------------


async def read(conn: AsyncConnection, campaign_ids: Sequence[str]) -> dict[str, dict[str, int]]:
    """{campaign id: {counter: value}} as committed; zeros for a campaign without a row (never started)."""
    found = {cid: dict.fromkeys(FIELDS, 0) for cid in campaign_ids}
    if campaign_ids:
        query = sa.select(campaign_counters).where(campaign_counters.c.campaign_id.in_(list(campaign_ids)))
        for row in (await conn.execute(query)).mappings():
            found[row["campaign_id"]] = {name: row[name] for name in FIELDS}
    return found


async def read_current(conn: AsyncConnection, campaign_id: str) -> dict[str, int]:
    """A campaign's counters with what this transaction has changed so far (not yet written)
    added in; its events judged without the counter locks (what auto-pause decides on)."""
    found = Counter((await read(conn, [campaign_id]))[campaign_id])
    tally, _now = _tally(conn)
    for part in (tally.moves, await _judged(conn, tally)):
        found.update(part.get(campaign_id, Counter()))
    return dict(found)


def joined(table: sa.Table) -> tuple[sa.FromClause, list[sa.ColumnElement]]:
    """(campaigns LEFT JOIN campaign_counters, the counter columns, 0 where there is no row) for
    reads that take a campaign and its counters in one query."""
    source = table.outerjoin(campaign_counters, campaign_counters.c.campaign_id == table.c.id)
    return source, [sa.func.coalesce(campaign_counters.c[name], 0).label(name) for name in FIELDS]


def of_row(row: Mapping) -> dict[str, int]:
    """The counters carried by a row read with `joined`."""
    return {name: row[name] for name in FIELDS}


def pending(counters: Mapping[str, int]) -> int:
    """Rows still queued, sending or deferred."""
    return counters["ledger_rows"] - sum(counters[name] for name in COUNTED_STATUSES.values())


def as_counts(counters: Mapping[str, int]) -> tuple[dict[str, int], dict[str, int]]:
    """(ledger rows by status, with the queued, sending and deferred ones as "pending"; feedback
    counts) in the shape the campaign metrics and progress are built from."""
    ledger = {status: counters[name] for status, name in COUNTED_STATUSES.items()}
    ledger["pending"] = pending(counters)
    feedback = {
        "opened": counters["opened"],
        "humanOpened": counters["human_opened"],
        "clicked": counters["clicked"],
        "bounced": counters["bounced"],
        "spamReported": counters["complained"],
        "unsubscribed": counters["unsubscribed"],
        "failedBounced": counters["failed_bounced"],
    }
    return ledger, feedback


# --- the truth the counters must equal ------------------------------------------------------


def _recipients(name: str, *where, join: bool = False) -> sa.Select:
    """One branch of the recount: (campaign id, counter, distinct ledger rows with such an event)."""
    query = sa.select(
        ev.c.campaign_id, sa.literal(name, sa.String), sa.func.count(sa.distinct(ev.c.message_id))
    )
    if join:
        query = query.select_from(ev.join(messages, messages.c.id == ev.c.message_id))
    return query.where(ev.c.campaign_id.in_(_IDS), *where).group_by(ev.c.campaign_id)


_IDS: sa.BindParameter[list[str]] = sa.bindparam("campaign_ids", expanding=True)
_RECOUNT = sa.union_all(
    sa.select(messages.c.campaign_id, sa.literal("ledger_rows", sa.String), sa.func.count())
    .where(messages.c.campaign_id.in_(_IDS))
    .group_by(messages.c.campaign_id),
    sa.select(messages.c.campaign_id, sa.case(COUNTED_STATUSES, value=messages.c.status), sa.func.count())
    .where(messages.c.campaign_id.in_(_IDS), messages.c.status.in_(list(COUNTED_STATUSES)))
    .group_by(messages.c.campaign_id, messages.c.status),
    *(_recipients(name, ev.c.type == kind) for kind, name in COUNTED_EVENTS.items()),
    _recipients("human_opened", ev.c.type == "opened", ev.c.is_automated.is_(False)),
    _recipients("failed_bounced", ev.c.type == "bounced", messages.c.status == "failed", join=True),
)


async def recount(conn: AsyncConnection, campaign_ids: Sequence[str]) -> dict[str, dict[str, int]]:
    """What the counters must hold, counted from the ledger and the events (slow: tests and checks)."""
    found = {cid: dict.fromkeys(FIELDS, 0) for cid in campaign_ids}
    if campaign_ids:
        for cid, name, n in await conn.execute(_RECOUNT, {"campaign_ids": list(campaign_ids)}):
            found[cid][name] = n
    return found
