"""Queries on contact lists and segments: rows, memberships, counts, and whether a campaign uses a list.

Who belongs to what is always a condition over `contacts` (`membership_condition`): a plain list
through `list_members`, a segment through its criteria (store/segments.py), and the virtual
GLOBAL_CONTACT_LIST ("All Contacts") through nothing at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from sendhouse.domain.contacts import GLOBAL_CONTACT_LIST, GLOBAL_NAME
from sendhouse.domain.pagination import Page
from sendhouse.store import segments
from sendhouse.store.schema.audience import contact_lists, contacts, list_members
from sendhouse.store.schema.campaigns import campaigns

FINISHED_CAMPAIGN_STATES = ("sent", "failed", "aborted")


def _live(project_id: str) -> list[sa.ColumnElement]:
    return [contact_lists.c.project_id == project_id, contact_lists.c.deleted_at.is_(None)]


async def insert_list(conn: AsyncConnection, row: dict) -> None:
    await conn.execute(contact_lists.insert().values(**row))


async def get_list(conn: AsyncConnection, project_id: str, list_id: str) -> dict | None:
    """A live list or segment of the project."""
    query = sa.select(contact_lists).where(contact_lists.c.id == list_id, *_live(project_id))
    row = (await conn.execute(query)).mappings().first()
    return dict(row) if row else None


async def name_taken(
    conn: AsyncConnection, project_id: str, name: str, *, other_than: str | None = None
) -> bool:
    """Whether a live list or segment of the project (other than `other_than`) already has this
    name (case-insensitive)."""
    query = sa.select(contact_lists.c.id).where(
        sa.func.lower(contact_lists.c.name) == name.lower(), *_live(project_id)
    )
    if other_than is not None:
        query = query.where(contact_lists.c.id != other_than)
    return (await conn.execute(query.limit(1))).first() is not None


async def update_list(conn: AsyncConnection, project_id: str, list_id: str, values: dict) -> bool:
    """Change a live list or segment of the project; whether it was there."""
    stmt = contact_lists.update().where(contact_lists.c.id == list_id, *_live(project_id)).values(**values)
    return (await conn.execute(stmt)).rowcount == 1


async def list_rows(conn: AsyncConnection, project_id: str, kind: str | None) -> list[dict]:
    """The project's live lists and segments, oldest first (optionally one type only)."""
    query = (
        sa.select(contact_lists)
        .where(*_live(project_id))
        .order_by(contact_lists.c.created_at, contact_lists.c.id)
    )
    if kind:
        query = query.where(contact_lists.c.type == kind)
    return [dict(r) for r in (await conn.execute(query)).mappings()]


def membership_condition(
    row: dict | None, segment_rows: dict[str, dict], *, dialect: str
) -> sa.ColumnElement:
    """Condition over contacts meaning "is in this list" (row None = GLOBAL_CONTACT_LIST)."""
    if row is None:
        return sa.true()
    if row["type"] == "segment":
        return segments.chain_condition(segment_rows, row["id"], dialect=dialect)
    return contacts.c.id.in_(sa.select(list_members.c.contact_id).where(list_members.c.list_id == row["id"]))


async def contact_count(conn: AsyncConnection, project_id: str, row: dict | None) -> int:
    """How many contacts a list, segment or (row None) the global list holds right now (a plain
    list: its member_count as this transaction sees it, changes it made included)."""
    if row is not None and row["type"] == "list":
        query = sa.select(contact_lists.c.member_count).where(contact_lists.c.id == row["id"])
        return (await conn.execute(query)).scalar_one_or_none() or 0
    segment_rows = await segments.load_segments(conn, project_id) if row and row["type"] == "segment" else {}
    condition = membership_condition(row, segment_rows, dialect=conn.dialect.name)
    return await segments.count_matching(conn, project_id, condition)


async def contact_counts(conn: AsyncConnection, project_id: str, rows: Sequence[dict]) -> dict[str, int]:
    """{id: contactCount} for many lists and segments, rows as read in this transaction (plain
    lists: their member_count, kept by the database; segments: their criteria evaluated)."""
    counts = {r["id"]: r["member_count"] for r in rows if r["type"] == "list"}
    if not any(r["type"] == "segment" for r in rows):
        return counts
    segment_rows = await segments.load_segments(conn, project_id)
    for row in rows:
        if row["type"] == "segment":
            condition = segments.chain_condition(segment_rows, row["id"], dialect=conn.dialect.name)
            counts[row["id"]] = await segments.count_matching(conn, project_id, condition)
    return counts


_MEMBERS = contact_lists.c.member_count


def campaign_lists_json(dialect: str) -> sa.ScalarSelect:
    """A scalar subquery over `campaigns`: the live lists and segments of the campaign's project named
    in its toLists or excludeLists, as a JSON array of [id, name, type, members] (members: the
    list's member_count, kept by the database's triggers; a segment has none). Read with the
    campaign row, then turned into descriptions by `described_from`."""
    if dialect == "postgresql":
        named = [
            sa.func.jsonb_array_elements_text(column).table_valued("value")
            for column in (campaigns.c.to_lists, campaigns.c.exclude_lists)
        ]
        build, aggregate = sa.func.json_build_array, sa.func.json_agg
    else:
        named = [
            sa.func.json_each(column).table_valued("value")
            for column in (campaigns.c.to_lists, campaigns.c.exclude_lists)
        ]
        build, aggregate = sa.func.json_array, sa.func.json_group_array
    ids = sa.union_all(*(sa.select(each.c.value) for each in named))
    row = build(contact_lists.c.id, contact_lists.c.name, contact_lists.c.type, _MEMBERS)
    return (
        sa.select(aggregate(row, type_=sa.JSON()))
        .where(
            contact_lists.c.project_id == campaigns.c.project_id,
            contact_lists.c.deleted_at.is_(None),
            contact_lists.c.id.in_(ids),
        )
        .scalar_subquery()
    )


def described_from(list_ids: list[str], rows: list | None) -> dict[str, dict]:
    """What `describe_lists` answers, from the rows `campaign_lists_json` read, except that the
    counts that scan the project's contacts (All Contacts, segments) are left None."""
    found: dict[str, dict] = {}
    if GLOBAL_CONTACT_LIST in list_ids:
        found[GLOBAL_CONTACT_LIST] = {
            "id": GLOBAL_CONTACT_LIST,
            "name": GLOBAL_NAME,
            "type": "list",
            "contactCount": None,
        }
    for list_id, name, kind, members in rows or []:
        found[list_id] = {
            "id": list_id,
            "name": name,
            "type": kind,
            "contactCount": None if kind == "segment" else members,
        }
    return found


_DESCRIBED = sa.select(
    contact_lists.c.id, contact_lists.c.name, contact_lists.c.type, _MEMBERS.label("members")
).where(
    contact_lists.c.id.in_(sa.bindparam("ids", expanding=True)),
    contact_lists.c.project_id == sa.bindparam("project_id"),
    contact_lists.c.deleted_at.is_(None),
)


async def describe_lists(conn: AsyncConnection, project_id: str, list_ids: list[str]) -> dict[str, dict]:
    """{id: {id, name, type, contactCount}} for the live lists/segments of the project among list_ids.

    Unknown or deleted ids are absent from the result. GLOBAL_CONTACT_LIST is described as the
    virtual "All Contacts" list.
    """
    found: dict[str, dict] = {}
    if GLOBAL_CONTACT_LIST in list_ids:
        total = await contact_count(conn, project_id, None)
        found[GLOBAL_CONTACT_LIST] = {
            "id": GLOBAL_CONTACT_LIST,
            "name": GLOBAL_NAME,
            "type": "list",
            "contactCount": total,
        }
    ids = [i for i in list_ids if i != GLOBAL_CONTACT_LIST]
    if ids:
        rows = [
            dict(r)
            for r in (await conn.execute(_DESCRIBED, {"ids": ids, "project_id": project_id})).mappings()
        ]
        counts = await contact_counts(conn, project_id, [r for r in rows if r["type"] == "segment"])
        for row in rows:
            members_count = row.pop("members")
            found[row["id"]] = {**row, "contactCount": counts.get(row["id"], members_count)}
    return found


def _campaign_uses(list_id: str, dialect: str) -> sa.ColumnElement:
    """Condition over campaigns: toLists or excludeLists holds this id."""
    if dialect == "postgresql":
        needle = sa.literal([list_id], postgresql.JSONB)
        return sa.or_(campaigns.c.to_lists.op("@>")(needle), campaigns.c.exclude_lists.op("@>")(needle))
    checks = []
    for column in (campaigns.c.to_lists, campaigns.c.exclude_lists):
        each = sa.func.json_each(column).table_valued("value")
        checks.append(sa.exists(sa.select(1).select_from(each).where(each.c.value == list_id)))
    return sa.or_(*checks)


def _in_use(project_id: str, list_id: str, dialect: str) -> sa.Exists:
    return sa.exists(
        sa.select(campaigns.c.id).where(
            campaigns.c.project_id == project_id,
            campaigns.c.status.not_in(FINISHED_CAMPAIGN_STATES),
            _campaign_uses(list_id, dialect),
        )
    )


async def soft_delete(conn: AsyncConnection, project_id: str, list_id: str, now: datetime) -> bool:
    """Mark a list deleted unless an unfinished campaign uses it; False when nothing was deleted."""
    query = (
        contact_lists.update()
        .where(
            contact_lists.c.id == list_id,
            *_live(project_id),
            sa.not_(_in_use(project_id, list_id, conn.dialect.name)),
        )
        .values(deleted_at=now, updated_at=now)
    )
    return (await conn.execute(query)).rowcount > 0


async def search_members(
    conn: AsyncConnection,
    project_id: str,
    condition: sa.ColumnElement,
    email: str | None,
    page: Page,
    *,
    total: int | None = None,
) -> tuple[list[dict], int]:
    """One page of the contacts matching a membership condition (oldest first), and the total
    (counted unless given: a plain list's member_count when no email narrows the search)."""
    where = [contacts.c.project_id == project_id, condition]
    if email:
        where.append(contacts.c.email.contains(email.strip().lower(), autoescape=True))
    if total is None:
        counting = sa.select(sa.func.count()).select_from(contacts).where(*where)
        total = (await conn.execute(counting)).scalar_one()
    columns = (
        contacts.c.id,
        contacts.c.email,
        contacts.c.first_name,
        contacts.c.last_name,
        contacts.c.created_at,
        contacts.c.updated_at,
    )
    query = sa.select(*columns).where(*where).order_by(contacts.c.id).limit(page.limit).offset(page.offset)
    return [dict(r) for r in (await conn.execute(query)).mappings()], total


async def contacts_by(
    conn: AsyncConnection, project_id: str, *, emails: Sequence[str] = (), ids: Sequence[str] = ()
) -> list[dict]:
    """The project's contacts with the given emails or ids."""
    column, values = (contacts.c.email, emails) if emails else (contacts.c.id, ids)
    if not values:
        return []
    query = sa.select(
        contacts.c.id, contacts.c.email, contacts.c.project_id, contacts.c.created_at, contacts.c.updated_at
    )
    query = query.where(contacts.c.project_id == project_id, column.in_(list(values)))
    return [dict(r) for r in (await conn.execute(query)).mappings()]


async def insert_new_contacts(conn: AsyncConnection, rows: list[dict]) -> None:
    """Insert contacts, skipping any address the project already has."""
    if not rows:
        return
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    stmt = (
        insert(contacts)
        .values(rows)
        .on_conflict_do_nothing(index_elements=[contacts.c.project_id, contacts.c.email])
    )
    await conn.execute(stmt)


async def members_among(conn: AsyncConnection, list_id: str, contact_ids: Sequence[str]) -> set[str]:
    """Which of the given contacts are in a plain list."""
    if not contact_ids:
        return set()
    query = sa.select(list_members.c.contact_id).where(
        list_members.c.list_id == list_id, list_members.c.contact_id.in_(list(contact_ids))
    )
    return set((await conn.execute(query)).scalars())


async def add_members(conn: AsyncConnection, list_id: str, contact_ids: Sequence[str], now: datetime) -> None:
    if contact_ids:
        await conn.execute(
            list_members.insert(),
            [{"list_id": list_id, "contact_id": c, "created_at": now} for c in contact_ids],
        )


async def remove_members(conn: AsyncConnection, list_id: str, contact_ids: Sequence[str]) -> int:
    if not contact_ids:
        return 0
    query = list_members.delete().where(
        list_members.c.list_id == list_id, list_members.c.contact_id.in_(list(contact_ids))
    )
    return (await conn.execute(query)).rowcount


async def list_ids_of(conn: AsyncConnection, contact_ids: Sequence[str]) -> dict[str, list[str]]:
    """{contact id: [ids of the live plain lists it is in]}."""
    found: dict[str, list[str]] = {c: [] for c in contact_ids}
    if not contact_ids:
        return found
    query = (
        sa.select(list_members.c.contact_id, list_members.c.list_id)
        .join(contact_lists, contact_lists.c.id == list_members.c.list_id)
        .where(list_members.c.contact_id.in_(list(contact_ids)), contact_lists.c.deleted_at.is_(None))
    )
    for contact_id, list_id in (await conn.execute(query.order_by(list_members.c.list_id))).all():
        found[contact_id].append(list_id)
    return found
