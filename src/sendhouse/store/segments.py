"""Segment membership in SQL: filterCriteria as a WHERE clause over `contacts`, and lookups by segment.

Built-in fields map to columns; any other field is read from `contacts.custom_fields` (json_extract
on SQLite, ->> on PostgreSQL), typed safely: a value of the wrong JSON type (or an unparsable date)
reads as "no value" instead of failing the query. Every condition is two-valued (never NULL), so a
criteria can be negated with NOT. The operators' meaning is documented in domain/segments.py.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from sendhouse.domain.segments import date_interval
from sendhouse.store.schema.audience import contact_lists, contacts

COLUMNS = {
    "email": contacts.c.email,
    "firstName": contacts.c.first_name,
    "lastName": contacts.c.last_name,
    "userId": contacts.c.user_id,
    "mobile": contacts.c.mobile,
    "createdAt": contacts.c.created_at,
    "updatedAt": contacts.c.updated_at,
}
MAX_PARENT_DEPTH = 10
UNION_CHUNK = 20
_PG_DATE = (
    r"^(?:\d{4}-(?:(?:0[1-9]|1[0-2])-(?:0[1-9]|1\d|2[0-8])|(?:0[13-9]|1[0-2])-(?:29|30)|(?:0[13578]|1[02])-31)"
    r"|(?:\d\d(?:0[48]|[2468][048]|[13579][26])|(?:[02468][048]|[13579][26])00)-02-29)"
    r"(?:[T ](?:[01]\d|2[0-3]):[0-5]\d(?::[0-5]\d(?:\.\d{1,6})?)?)?(?:Z|[+-](?:[01]\d|2[0-3])(?::?[0-5]\d)?)?$"
)
_PG_OFFSET = r"(?:Z|[+-]\d\d(?::?\d\d)?)$"
_SQLITE_TIME = "%Y-%m-%d %H:%M:%f"
# Shapes the contacts API stores dates in, turned into _SQLITE_TIME text without parsing (fast path).
_GLOB_DAY = "[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]"
_GLOB_ISO_Z = _GLOB_DAY + "T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9]Z"


def _is_pg(dialect: str) -> bool:
    return dialect.startswith("postgres")


class _Custom:
    """Typed reads of one custom property from contacts.custom_fields, per dialect."""

    def __init__(self, key: str, dialect: str):
        self.key, self.pg = key, _is_pg(dialect)
        self.path = f'$."{key}"'

    def text(self) -> sa.ColumnElement:
        if self.pg:
            return contacts.c.custom_fields.op("->>")(self.key)
        return sa.func.json_extract(contacts.c.custom_fields, self.path)

    def _json_type(self) -> sa.ColumnElement:
        if self.pg:
            return sa.func.jsonb_typeof(contacts.c.custom_fields.op("->")(self.key))
        return sa.func.json_type(contacts.c.custom_fields, self.path)

    def number(self) -> sa.ColumnElement:
        if self.pg:
            return sa.case((self._json_type() == "number", sa.cast(self.text(), sa.Numeric)))
        return sa.case((self._json_type().in_(("integer", "real")), self.text()))

    def boolean(self) -> sa.ColumnElement:
        if self.pg:
            return sa.case({"true": 1, "false": 0}, value=sa.func.lower(self.text()))
        as_text = sa.case({"true": 1, "false": 0}, value=sa.func.lower(self.text()))
        return sa.case({"true": 1, "false": 0, "text": as_text}, value=self._json_type())

    def date(self) -> sa.ColumnElement:
        raw = self.text()
        if self.pg:
            aware = sa.cast(raw, sa.TIMESTAMP(timezone=True)).op("AT TIME ZONE")("UTC")
            moment = sa.case((raw.op("~")(_PG_OFFSET), aware), else_=sa.cast(raw, sa.TIMESTAMP()))
            return sa.case((raw.op("~")(_PG_DATE), moment))
        day = sa.func.substr(raw, 1, 10)
        normalized = sa.case(
            (raw.op("GLOB")(_GLOB_DAY), raw.concat(" 00:00:00.000")),
            (raw.op("GLOB")(_GLOB_ISO_Z), sa.func.replace(sa.func.substr(raw, 1, 23), "T", " ")),
            (sa.func.date(day, "+0 days") == day, sa.func.strftime(_SQLITE_TIME, raw)),
        )  # other shapes are parsed, and refused when the day does not exist (2023-02-30)
        return sa.case((self._json_type() == "text", normalized))

    def date_bound(self, moment: datetime) -> Any:
        naive = moment.replace(tzinfo=None)
        if self.pg:
            return sa.literal(naive, sa.DateTime())
        return naive.strftime("%Y-%m-%d %H:%M:%S.") + f"{naive.microsecond // 1000:03d}"


def _present(x: sa.ColumnElement, pred: sa.ColumnElement) -> sa.ColumnElement:
    """pred, false when x has no value (x is evaluated once: COALESCE, not "x IS NOT NULL AND ...")."""
    return sa.func.coalesce(pred, sa.false(), type_=sa.Boolean)


def _absent_or_not(x: sa.ColumnElement, pred: sa.ColumnElement) -> sa.ColumnElement:
    """NOT pred, true when x has no value."""
    return sa.func.coalesce(sa.not_(pred), sa.true(), type_=sa.Boolean)


def _string(x: sa.ColumnElement, operator: str, value: Any) -> sa.ColumnElement:
    low = sa.func.lower(x)
    if operator in ("is_empty", "is_not_empty"):
        empty = sa.or_(x.is_(None), sa.func.trim(x) == "")
        return empty if operator == "is_empty" else sa.not_(empty)
    needle = value.lower()
    preds: dict[str, Callable[[], sa.ColumnElement]] = {
        "equals": lambda: low == needle,
        "not_equals": lambda: low == needle,
        "contains": lambda: low.contains(needle, autoescape=True),
        "not_contains": lambda: low.contains(needle, autoescape=True),
        "starts_with": lambda: low.startswith(needle, autoescape=True),
        "ends_with": lambda: low.endswith(needle, autoescape=True),
    }
    pred = preds[operator]()
    return _absent_or_not(x, pred) if operator.startswith("not_") else _present(x, pred)


def _number(x: sa.ColumnElement, operator: str, value: Any) -> sa.ColumnElement:
    if operator == "between":
        return _present(x, sa.and_(x >= value[0], x <= value[1]))
    if operator in ("equals", "not_equals"):
        pred = x == value
        return _present(x, pred) if operator == "equals" else _absent_or_not(x, pred)
    return _present(x, x > value if operator == "greater_than" else x < value)


def _boolean(x: sa.ColumnElement, operator: str, value: Any) -> sa.ColumnElement:
    pred = x == (1 if value else 0)
    return _present(x, pred) if operator == "equals" else _absent_or_not(x, pred)


def _date(
    x: sa.ColumnElement, operator: str, value: Any, bound: Callable[[datetime], Any]
) -> sa.ColumnElement:
    if operator in ("is_empty", "is_not_empty"):
        return x.is_(None) if operator == "is_empty" else x.is_not(None)
    if operator == "between":
        (low, _), (_, high) = date_interval(value[0]), date_interval(value[1])
        return _present(x, sa.and_(x >= bound(low), x < bound(high)))
    low, high = date_interval(value)
    if operator == "before":
        return _present(x, x < bound(low))
    if operator == "after":
        return _present(x, x >= bound(high))
    pred = sa.and_(x >= bound(low), x < bound(high))
    return _present(x, pred) if operator == "equals" else _absent_or_not(x, pred)


def condition_of(group: dict, *, dialect: str) -> sa.ColumnElement:
    """One validated {field, fieldType, operator, value} as a two-valued SQL condition."""
    field, kind, operator, value = group["field"], group["fieldType"], group["operator"], group["value"]
    if field in COLUMNS:
        column = COLUMNS[field]
        if kind == "date":
            return _date(column, operator, value, lambda moment: sa.literal(moment, column.type))
        return _string(column, operator, value)
    custom = _Custom(field, dialect)
    if kind == "date":
        return _date(custom.date(), operator, value, custom.date_bound)
    if kind == "number":
        return _number(custom.number(), operator, value)
    if kind == "boolean":
        return _boolean(custom.boolean(), operator, value)
    return _string(custom.text(), operator, value)


def criteria_condition(criteria: dict, *, dialect: str) -> sa.ColumnElement:
    """A validated filterCriteria as a WHERE clause over the contacts table.

    No conditions at all (only possible for rows written around the API) means everyone for AND
    and no one for OR, as the empty AND/OR do in logic.
    """
    parts = [condition_of(group, dialect=dialect) for group in (criteria or {}).get("groups") or []]
    if (criteria or {}).get("logicalOperator", "AND") == "AND":
        return sa.and_(sa.true(), *parts)
    return sa.or_(sa.false(), *parts)


async def load_segments(conn: AsyncConnection, project_id: str) -> dict[str, dict]:
    """Every segment of the project (deleted ones too: a sub-segment keeps its parent's criteria)."""
    query = sa.select(
        contact_lists.c.id,
        contact_lists.c.filter_criteria,
        contact_lists.c.parent_id,
        contact_lists.c.deleted_at,
    ).where(contact_lists.c.project_id == project_id, contact_lists.c.type == "segment")
    return {row["id"]: dict(row) for row in (await conn.execute(query)).mappings()}


def chain_condition(segments: dict[str, dict], segment_id: str, *, dialect: str) -> sa.ColumnElement:
    """The segment's own criteria AND those of its parents (a missing one matches nobody)."""
    parts, current = [], segments.get(segment_id)
    for _ in range(MAX_PARENT_DEPTH):
        if current is None:
            return sa.false()
        parts.append(criteria_condition(current["filter_criteria"], dialect=dialect))
        if current["parent_id"] is None:
            return sa.and_(*parts)
        current = segments.get(current["parent_id"])
    return sa.false()


async def segment_condition(conn: AsyncConnection, project_id: str, segment_id: str) -> sa.ColumnElement:
    """The WHERE clause of one segment of the project (false for an unknown id)."""
    return chain_condition(await load_segments(conn, project_id), segment_id, dialect=conn.dialect.name)


def members_select(project_id: str, condition: sa.ColumnElement) -> sa.Select:
    """SELECT contacts.id of the project's contacts matching a condition."""
    return sa.select(contacts.c.id).where(contacts.c.project_id == project_id, condition)


async def count_matching(conn: AsyncConnection, project_id: str, condition: sa.ColumnElement) -> int:
    """How many contacts of the project match a condition."""
    query = (
        sa.select(sa.func.count()).select_from(contacts).where(contacts.c.project_id == project_id, condition)
    )
    return (await conn.execute(query)).scalar_one()


async def segment_ids_for_contacts(
    conn: AsyncConnection, project_id: str, contact_ids: list[str]
) -> dict[str, list[str]]:
    """{contact id: [ids of the live segments it is in]} for the given contacts, in few queries."""
    found: dict[str, list[str]] = {cid: [] for cid in contact_ids}
    segments = await load_segments(conn, project_id)
    live = sorted(sid for sid, row in segments.items() if row["deleted_at"] is None)
    if not contact_ids or not live:
        return found
    for start in range(0, len(live), UNION_CHUNK):
        selects = [
            sa.select(
                sa.literal(sid, sa.String).label("segment_id"), contacts.c.id.label("contact_id")
            ).where(
                contacts.c.project_id == project_id,
                contacts.c.id.in_(contact_ids),
                chain_condition(segments, sid, dialect=conn.dialect.name),
            )
            for sid in live[start : start + UNION_CHUNK]
        ]
        for row in (await conn.execute(sa.union_all(*selects))).mappings():
            found[row["contact_id"]].append(row["segment_id"])
    return found
