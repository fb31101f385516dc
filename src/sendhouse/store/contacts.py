"""Queries on contacts: lookups, the race-free upsert by email, deletes, list memberships, and the
bulk upsert used by CSV imports (executemany on SQLite, COPY into a temp table on PostgreSQL).

Custom fields merge key by key: on SQLite with json_patch (a null value removes a key), on
PostgreSQL with `||` and jsonb_strip_nulls.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from sendhouse.store.schema.audience import (
    contact_lists,
    contacts,
    list_members,
    suppression_groups,
    suppressions,
)
from sendhouse.store.types import JSONType

IMPORT_COLUMNS = (
    "id",
    "project_id",
    "email",
    "first_name",
    "last_name",
    "user_id",
    "mobile",
    "custom_fields",
    "source",
    "created_at",
    "updated_at",
)
_scratch = sa.MetaData()
_import_buffer = sa.Table(  # a temporary table on PostgreSQL only (never in the shared metadata)
    "contact_import_buffer",
    _scratch,
    *(sa.Column(c.name, c.type) for c in contacts.c if c.name in IMPORT_COLUMNS),
    prefixes=["TEMPORARY"],
    postgresql_on_commit="DROP",
)


def dialect_insert(conn: AsyncConnection, table: sa.Table):
    """INSERT with ON CONFLICT support for the connection's database."""
    return (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(table)


def _merged_fields(conn: AsyncConnection, patch: Any) -> sa.ColumnElement:
    """custom_fields with `patch` merged in (null values in the patch remove keys)."""
    if conn.dialect.name == "postgresql":
        return sa.func.jsonb_strip_nulls(contacts.c.custom_fields.op("||")(patch), type_=JSONType)
    return sa.func.json_patch(contacts.c.custom_fields, patch, type_=JSONType)


async def insert_if_new(conn: AsyncConnection, row: dict[str, Any]) -> bool:
    """Insert a contact unless its email exists in the project; True when inserted."""
    stmt = (
        dialect_insert(conn, contacts)
        .values(**row)
        .on_conflict_do_nothing(index_elements=["project_id", "email"])
    )
    return (await conn.execute(stmt.returning(contacts.c.id))).first() is not None


async def update_by_email(
    conn: AsyncConnection, project_id: str, email: str, values: dict, patch: dict
) -> None:
    """Set the given columns and merge the custom field patch, in one UPDATE."""
    merged = _merged_fields(conn, sa.bindparam("patch", patch, type_=JSONType))
    stmt = (
        contacts.update()
        .where(contacts.c.project_id == project_id, contacts.c.email == email)
        .values(**values, custom_fields=merged)
    )
    await conn.execute(stmt)


async def _one(conn: AsyncConnection, *where: Any) -> dict | None:
    row = (await conn.execute(sa.select(contacts).where(*where))).mappings().first()
    return dict(row) if row else None


async def get_contact(conn: AsyncConnection, project_id: str, contact_id: str) -> dict | None:
    return await _one(conn, contacts.c.project_id == project_id, contacts.c.id == contact_id)


async def find_by_email(conn: AsyncConnection, project_id: str, email: str) -> dict | None:
    return await _one(conn, contacts.c.project_id == project_id, contacts.c.email == email)


async def find_by_emails(conn: AsyncConnection, project_id: str, emails: Sequence[str]) -> list[dict]:
    query = sa.select(contacts).where(contacts.c.project_id == project_id, contacts.c.email.in_(list(emails)))
    return [dict(r) for r in (await conn.execute(query.order_by(contacts.c.id))).mappings()]


async def merge_fields_of(conn: AsyncConnection, contact_ids: Sequence[str]) -> dict[str, dict]:
    """{contact id: its id, first_name, last_name, user_id and custom_fields} (merge-tag data)."""
    if not contact_ids:
        return {}
    c = contacts.c
    query = sa.select(c.id, c.first_name, c.last_name, c.user_id, c.custom_fields).where(
        c.id.in_(list(contact_ids))
    )
    return {r["id"]: dict(r) for r in (await conn.execute(query)).mappings()}


async def delete_contact(conn: AsyncConnection, project_id: str, contact_id: str) -> bool:
    stmt = contacts.delete().where(contacts.c.project_id == project_id, contacts.c.id == contact_id)
    return (await conn.execute(stmt.returning(contacts.c.id))).first() is not None


async def delete_by_user_id(conn: AsyncConnection, project_id: str, user_id: str) -> list[dict]:
    """Delete the contacts carrying this userId; return the deleted rows."""
    stmt = contacts.delete().where(contacts.c.project_id == project_id, contacts.c.user_id == user_id)
    return [dict(r) for r in (await conn.execute(stmt.returning(*contacts.c))).mappings()]


async def delete_by_emails(conn: AsyncConnection, project_id: str, emails: Sequence[str]) -> list[dict]:
    """Delete the contacts with these emails; return the deleted rows, by id."""
    stmt = contacts.delete().where(contacts.c.project_id == project_id, contacts.c.email.in_(list(emails)))
    rows = [dict(r) for r in (await conn.execute(stmt.returning(*contacts.c))).mappings()]
    return sorted(rows, key=lambda r: r["id"])


async def list_ids_of(conn: AsyncConnection, contact_ids: Sequence[str]) -> dict[str, list[str]]:
    """{contact id: [ids of the live plain lists it belongs to]}."""
    query = (
        sa.select(list_members.c.contact_id, list_members.c.list_id)
        .join(contact_lists, contact_lists.c.id == list_members.c.list_id)
        .where(
            list_members.c.contact_id.in_(list(contact_ids)),
            contact_lists.c.deleted_at.is_(None),
            contact_lists.c.type == "list",
        )
        .order_by(list_members.c.created_at, list_members.c.list_id)
    )
    found: dict[str, list[str]] = {cid: [] for cid in contact_ids}
    for contact_id, list_id in await conn.execute(query):
        found[contact_id].append(list_id)
    return found


async def list_types(conn: AsyncConnection, project_id: str, list_ids: Sequence[str]) -> dict[str, str]:
    """{id: type} of the live lists and segments of the project among list_ids."""
    query = sa.select(contact_lists.c.id, contact_lists.c.type).where(
        contact_lists.c.project_id == project_id,
        contact_lists.c.id.in_(list(list_ids)),
        contact_lists.c.deleted_at.is_(None),
    )
    return dict((await conn.execute(query)).all())


async def add_memberships(
    conn: AsyncConnection, contact_id: str, list_ids: Sequence[str], now: datetime
) -> list[str]:
    """Put a contact into these lists; the ids of those it was not in already (in order)."""
    if not list_ids:
        return []
    query = sa.select(list_members.c.list_id).where(
        list_members.c.contact_id == contact_id, list_members.c.list_id.in_(list(list_ids))
    )
    already = set((await conn.execute(query)).scalars())
    added = [list_id for list_id in dict.fromkeys(list_ids) if list_id not in already]
    rows = [{"list_id": list_id, "contact_id": contact_id, "created_at": now} for list_id in added]
    if rows:
        await conn.execute(dialect_insert(conn, list_members).on_conflict_do_nothing(), rows)
    return added


async def add_emails_to_list(
    conn: AsyncConnection, project_id: str, list_id: str, emails: Sequence[str], now: datetime
) -> None:
    """Put the project's contacts with these emails into a list (already members are left alone)."""
    chosen = sa.select(sa.literal(list_id), contacts.c.id, sa.literal(now, contacts.c.created_at.type)).where(
        contacts.c.project_id == project_id, contacts.c.email.in_(list(emails))
    )
    stmt = dialect_insert(conn, list_members).from_select(["list_id", "contact_id", "created_at"], chosen)
    await conn.execute(stmt.on_conflict_do_nothing())


async def unsubscribe_groups(conn: AsyncConnection, project_id: str, email: str) -> list[dict]:
    """[{groupId, name}] of the groups an address is suppressed in."""
    query = (
        sa.select(suppression_groups.c.group_code, suppression_groups.c.name)
        .join(suppressions, suppressions.c.group_id == suppression_groups.c.id)
        .where(
            suppressions.c.project_id == project_id,
            suppressions.c.email == email,
            suppression_groups.c.project_id == project_id,
        )
        .distinct()
        .order_by(suppression_groups.c.name, suppression_groups.c.group_code)
    )
    return [{"groupId": code, "name": name} for code, name in await conn.execute(query)]


def _import_conflict_set(stmt, conn: AsyncConnection) -> dict[str, Any]:
    """On a known email: blank cells keep stored values, custom fields merge, created_at/id stay."""
    keep = {
        c: sa.func.coalesce(stmt.excluded[c], contacts.c[c])
        for c in ("first_name", "last_name", "user_id", "mobile")
    }
    merged: sa.ColumnElement[Any]
    if conn.dialect.name == "postgresql":
        merged = contacts.c.custom_fields.op("||")(stmt.excluded.custom_fields)
    else:
        merged = sa.func.json_patch(contacts.c.custom_fields, stmt.excluded.custom_fields)
    return {**keep, "custom_fields": merged, "updated_at": stmt.excluded.updated_at}


async def upsert_many(conn: AsyncConnection, rows: list[tuple]) -> None:
    """Create or update many contacts (tuples in IMPORT_COLUMNS order, custom_fields as JSON text)."""
    if conn.dialect.name == "postgresql":
        await _upsert_many_postgres(conn, rows)
    else:
        await _upsert_many_sqlite(conn, rows)


async def _upsert_many_sqlite(conn: AsyncConnection, rows: list[tuple]) -> None:
    stmt = sqlite.insert(contacts)
    stmt = stmt.on_conflict_do_update(
        index_elements=["project_id", "email"], set_=_import_conflict_set(stmt, conn)
    )
    compiled = stmt.compile(dialect=conn.dialect, column_keys=list(IMPORT_COLUMNS))
    order = [IMPORT_COLUMNS.index(name) for name in compiled.positiontup or ()]
    params = _sqlite_rows(rows)
    if order != list(range(len(IMPORT_COLUMNS))):
        params = [tuple(row[i] for i in order) for row in params]
    driver = (await conn.get_raw_connection()).driver_connection
    assert driver is not None  # an open connection
    cursor = await driver.executemany(str(compiled), params)
    await cursor.close()


def _sqlite_rows(rows: list[tuple]) -> list[tuple]:
    """Timestamps as SQLAlchemy stores them on SQLite (naive UTC text), each distinct one formatted once."""
    times: dict[datetime, str] = {}

    def stamp(value: datetime) -> str:
        if value not in times:
            times[value] = _naive_utc(value).isoformat(" ", "microseconds")
        return times[value]

    return [(*row[:-2], stamp(row[-2]), stamp(row[-1])) for row in rows]


def _naive_utc(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None)


async def _upsert_many_postgres(conn: AsyncConnection, rows: list[tuple]) -> None:
    await conn.run_sync(lambda sync: _import_buffer.create(sync, checkfirst=False))
    raw = (await conn.get_raw_connection()).driver_connection
    assert raw is not None  # an open connection
    async with raw.cursor() as cursor:
        copy_sql = f"COPY {_import_buffer.name} ({', '.join(IMPORT_COLUMNS)}) FROM STDIN"
        async with cursor.copy(copy_sql) as copy:
            await copy.write(_copy_text(rows))
    stmt = postgresql.insert(contacts).from_select(list(IMPORT_COLUMNS), sa.select(_import_buffer))
    stmt = stmt.on_conflict_do_update(
        index_elements=["project_id", "email"], set_=_import_conflict_set(stmt, conn)
    )
    await conn.execute(stmt)
    await conn.execute(sa.text(f"DROP TABLE {_import_buffer.name}"))


def _copy_field(value: str | None) -> str:
    """One field in COPY's text format."""
    if value is None:
        return "\\N"
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
        return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return value


def _copy_text(rows: list[tuple]) -> bytes:
    """The rows as one COPY text-format payload (timestamps as naive UTC)."""
    times: dict[datetime, str] = {}

    def stamp(value: datetime) -> str:
        if value not in times:
            times[value] = _naive_utc(value).isoformat(" ")
        return times[value]

    lines = ["\t".join([*map(_copy_field, row[:-2]), stamp(row[-2]), stamp(row[-1])]) for row in rows]
    return ("\n".join(lines) + "\n").encode()


def json_text(value: dict) -> str:
    return orjson.dumps(value).decode()
