"""Writing many rows at once below SQLAlchemy's per-row parameter handling, for the hot bulk paths
(an automation pass writes thousands of ledger rows, step log rows and run updates).

Values are converted once per column as the table's types store them (UTC timestamps as naive UTC,
JSON as text, booleans as 0/1 on SQLite), then:
- SQLite: one `executemany` of one prepared statement on the driver connection;
- PostgreSQL: inserts go in through COPY (`insert_many`); updates by id are one
  `UPDATE … FROM unnest(arrays)` statement (`update_by_id`).
Both run inside the caller's transaction. `among` is `IN (…)` for long lists of strings: on
PostgreSQL `= ANY(array)`, one parameter (one statement text, so psycopg prepares it once) instead
of one per value, which took three times as long for 1,000 ids.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection

from sendhouse.store.types import UTCDateTime


def among(conn: AsyncConnection, column: sa.ColumnElement, values: Sequence[str]) -> sa.ColumnElement:
    """`column IN (values)` for a text column and many strings."""
    if conn.dialect.name == "postgresql":
        return column == sa.any_(sa.bindparam(None, list(values), type_=postgresql.ARRAY(sa.String)))
    return column.in_(values)


def among_param(on_postgresql: bool, column: sa.ColumnElement, name: str) -> sa.ColumnElement:
    """`among` with the list as the named parameter `name`, for a statement built once."""
    if on_postgresql:
        return column == sa.any_(sa.bindparam(name, type_=postgresql.ARRAY(sa.String)))
    return column.in_(sa.bindparam(name, expanding=True))


async def insert_many(conn: AsyncConnection, table: sa.Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert rows that all have the same keys (column names of `table`)."""
    if not rows:
        return
    names = list(rows[0])
    values = _converted(conn, table, names, rows)
    driver = (await conn.get_raw_connection()).driver_connection
    assert driver is not None  # a live connection always has its driver's
    if conn.dialect.name == "postgresql":
        copy_sql = f"COPY {table.name} ({', '.join(names)}) FROM STDIN"
        async with driver.cursor() as cursor, cursor.copy(copy_sql) as copy:
            for row in values:
                await copy.write_row(row)
        return
    sql = f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"
    await _executemany(driver, sql, values)


MAX_PARAMETERS = 30_000  # per statement (PostgreSQL's protocol allows 65,535)


async def insert_few(conn: AsyncConnection, table: sa.Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert a few rows that all have the same keys: on PostgreSQL one multi-row INSERT on the
    driver (one round trip; COPY or an executemany pipeline take three), else insert_many."""
    if not rows or conn.dialect.name != "postgresql":
        return await insert_many(conn, table, rows)
    names = list(rows[0])
    values = _converted(conn, table, names, rows)
    driver = (await conn.get_raw_connection()).driver_connection
    assert driver is not None  # a live connection always has its driver's
    per_statement = MAX_PARAMETERS // len(names)
    from psycopg import AsyncRawCursor  # PostgreSQL's driver: a SQLite process never loads it

    async with AsyncRawCursor(driver) as cursor:
        for start in range(0, len(values), per_statement):
            chunk = values[start : start + per_statement]
            sql = _values_insert(table.name, tuple(names), len(chunk))
            await cursor.execute(sql, [value for row in chunk for value in row])


@functools.lru_cache(maxsize=256)
def _values_insert(table: str, names: tuple[str, ...], rows: int) -> str:
    """`INSERT … VALUES` of `rows` rows with PostgreSQL's own `$n` placeholders: psycopg's raw
    cursor sends it as it is, where a `%s` text this long is parsed again on every execution."""
    width = len(names)
    values = ", ".join(
        "(" + ", ".join(f"${row * width + column + 1}" for column in range(width)) + ")"
        for row in range(rows)
    )
    return f"INSERT INTO {table} ({', '.join(names)}) VALUES {values}"


async def update_by_id(
    conn: AsyncConnection,
    table: sa.Table,
    rows: Sequence[dict[str, Any]],
    *,
    where: dict[str, Any],
    fixed: dict[str, Any],
) -> int:
    """For each row {"id": …, column: value, …} (same keys in every row), set its columns and the
    `fixed` ones on the row with that id when the `where` columns equal the given values; how many
    rows changed. The columns set per row hold text, numbers or timestamps (no JSON)."""
    if not rows:
        return 0
    names = [n for n in rows[0] if n != "id"]
    if conn.dialect.name == "postgresql":
        return await _update_postgres(conn, table, names, rows, where, fixed)
    return await _update_sqlite(conn, table, names, rows, where, fixed)


async def _update_sqlite(
    conn: AsyncConnection,
    table: sa.Table,
    names: list[str],
    rows: Sequence[dict],
    where: dict[str, Any],
    fixed: dict[str, Any],
) -> int:
    assigned, compared = [*names, *fixed], [n for n, v in where.items() if v is not None]
    sql = (
        f"UPDATE {table.name} SET {', '.join(f'{n} = ?' for n in assigned)} "
        f"WHERE id = ?{_conditions(where, lambda n: f'{n} = ?')}"
    )
    tail = _converted(conn, table, list(fixed), [fixed])[0] if fixed else ()
    condition = _converted(conn, table, compared, [where])[0] if compared else ()
    values = [
        (*row, *tail, key, *condition)
        for row, key in zip(_converted(conn, table, names, rows), (r["id"] for r in rows), strict=True)
    ]
    driver = (await conn.get_raw_connection()).driver_connection
    assert driver is not None  # a live connection always has its driver's
    return await _executemany(driver, sql, values)


async def _executemany(driver: Any, sql: str, values: list) -> int:
    """One prepared statement over many rows on SQLite's driver connection: aiosqlite's, or the
    sqlite3 connection itself inside a quick write (store/db.py); how many rows changed."""
    if isinstance(driver, sqlite3.Connection):
        return driver.executemany(sql, values).rowcount
    cursor = await driver.executemany(sql, values)
    changed = cursor.rowcount
    await cursor.close()
    return changed


async def _update_postgres(
    conn: AsyncConnection,
    table: sa.Table,
    names: list[str],
    rows: Sequence[dict],
    where: dict[str, Any],
    fixed: dict[str, Any],
) -> int:
    """The `where` values come in as arrays beside the rows (one copy per row), so they are join
    conditions, not restrictions of the table: the planner, which may believe that no row has
    lease_owner = 'x' (statistics taken while none had), would otherwise scan the table and
    compare every leased row with every array element instead of looking the ids up."""
    compared = [n for n, v in where.items() if v is not None]
    arrays = [(name, [_plain_value(table.c[name], row[name]) for row in rows]) for name in ["id", *names]]
    arrays += [(name, [_plain_value(table.c[name], where[name])] * len(rows)) for name in compared]
    binds = [
        sa.bindparam(f"a{i}", values, type_=sa.ARRAY(_plain(table.c[name].type)))
        for i, (name, values) in enumerate(arrays)
    ]
    binds += [sa.bindparam(f"f_{n}", v, type_=table.c[n].type) for n, v in fixed.items()]
    source = ", ".join(
        f"CAST(:a{i} AS {table.c[name].type.compile(dialect=conn.dialect)}[])"
        for i, (name, _values) in enumerate(arrays)
    )
    aliases = ["id", *names, *(f"w_{n}" for n in compared)]
    assigned = [f"{n} = u.{n}" for n in names] + [f"{n} = :f_{n}" for n in fixed]
    sql = (
        f"UPDATE {table.name} AS t SET {', '.join(assigned)} FROM unnest({source}) AS u({', '.join(aliases)}) "
        f"WHERE t.id = u.id{_conditions(where, lambda n: f't.{n} = u.w_{n}', 't.')}"
    )
    return (await conn.execute(sa.text(sql).bindparams(*binds))).rowcount


def _conditions(where: dict[str, Any], equal: Callable[[str], str], prefix: str = "") -> str:
    """` AND …` for each condition: `equal(name)` for a value, IS NULL for None."""
    return "".join(f" AND {prefix}{n} IS NULL" if v is None else f" AND {equal(n)}" for n, v in where.items())


def _plain(kind: sa.types.TypeEngine) -> sa.types.TypeEngine:
    """The element type of an array whose values _plain_value converted already."""
    return sa.DateTime() if isinstance(kind, UTCDateTime) else kind


def _plain_value(column: sa.Column, value: Any) -> Any:
    return _naive_utc(value) if value is not None and isinstance(column.type, UTCDateTime) else value


def _converted(conn: AsyncConnection, table: sa.Table, names: list[str], rows: Sequence[dict]) -> list[tuple]:
    """The rows as tuples of driver values, in `names` order."""
    sqlite = conn.dialect.name == "sqlite"
    pick = itemgetter(*names) if len(names) > 1 else (lambda row: (row[names[0]],))
    converting = [(i, fn) for i, name in enumerate(names) if (fn := _converter(table.c[name].type, sqlite))]
    if not converting:
        return [pick(row) for row in rows]
    values = []
    for row in rows:
        value = list(pick(row))
        for i, fn in converting:
            if value[i] is not None:
                value[i] = fn(value[i])
        values.append(tuple(value))
    return values


def _converter(kind: sa.types.TypeEngine, sqlite: bool) -> Callable[[Any], Any] | None:
    if isinstance(kind, UTCDateTime):
        return _sqlite_stamp if sqlite else _naive_utc
    if isinstance(kind, sa.JSON):
        return _json_text
    if isinstance(kind, sa.Boolean) and sqlite:
        return int
    return None


def _naive_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("naive datetime given to a UTC column")
    return value.astimezone(UTC).replace(tzinfo=None)


_stamps: dict[datetime, str] = {}


def _sqlite_stamp(value: datetime) -> str:
    """The text SQLAlchemy stores for a timestamp on SQLite (naive UTC, microseconds)."""
    text = _stamps.get(value)
    if text is None:
        if len(_stamps) > 4096:
            _stamps.clear()
        text = _stamps[value] = _naive_utc(value).isoformat(" ", "microseconds")
    return text


def _json_text(value: Any) -> str:
    return orjson.dumps(value).decode()
