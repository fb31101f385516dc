"""Segment rules: validation of AutoSend's `filterCriteria` and the meaning of each operator.

A criteria object is `{logicalOperator: "AND"|"OR", groups: [{field, fieldType, operator, value}]}`.
Built-in fields (email, firstName, lastName, userId, mobile, createdAt, updatedAt) have a fixed
type; any other field names a custom property. Date values are ISO 8601 dates or date-times: a
date alone stands for that whole UTC day, so `equals 2024-05-01` matches any time that day,
`before` means before its start, `after` after its end, and `between` includes both ends.
Negative operators (not_equals, not_contains) also match contacts that have no value.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sendhouse.errors import InvalidInput

BUILTIN_FIELDS = {
    "email": "string",
    "firstName": "string",
    "lastName": "string",
    "userId": "string",
    "mobile": "string",
    "createdAt": "date",
    "updatedAt": "date",
}
OPERATORS = {
    "string": (
        "equals",
        "not_equals",
        "contains",
        "not_contains",
        "starts_with",
        "ends_with",
        "is_empty",
        "is_not_empty",
    ),
    "number": ("equals", "not_equals", "greater_than", "less_than", "between"),
    "boolean": ("equals", "not_equals"),
    "date": ("equals", "not_equals", "before", "after", "between", "is_empty", "is_not_empty"),
}
NO_VALUE_OPERATORS = ("is_empty", "is_not_empty")
MAX_CONDITIONS = 50
MAX_STRING_VALUE = 500
FIELD_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_ .-]{0,99}$")
ONE_MILLISECOND = timedelta(milliseconds=1)


def validate_criteria(raw: Any, *, field: str = "filterCriteria") -> dict:
    """The normalized criteria, or InvalidInput naming the first bad part."""
    if not isinstance(raw, dict):
        raise InvalidInput.field(field, "must be an object with logicalOperator and groups")
    operator = raw.get("logicalOperator", "AND")
    if operator not in ("AND", "OR"):
        raise InvalidInput.field(f"{field}.logicalOperator", "must be AND or OR")
    groups = raw.get("groups")
    if not isinstance(groups, list) or not 1 <= len(groups) <= MAX_CONDITIONS:
        raise InvalidInput.field(f"{field}.groups", f"must be a list of 1 to {MAX_CONDITIONS} conditions")
    return {
        "logicalOperator": operator,
        "groups": [_condition(g, f"{field}.groups[{i}]") for i, g in enumerate(groups)],
    }


def _condition(raw: Any, where: str) -> dict:
    if not isinstance(raw, dict):
        raise InvalidInput.field(where, "must be an object {field, fieldType, operator, value}")
    name, field_type, operator = raw.get("field"), raw.get("fieldType"), raw.get("operator")
    if not isinstance(name, str) or not FIELD_NAME.match(name):
        raise InvalidInput.field(
            f"{where}.field", "must be a field name (letters, digits, _ . - and spaces, ≤100)"
        )
    if field_type not in OPERATORS:
        raise InvalidInput.field(f"{where}.fieldType", "must be one of string, number, boolean, date")
    if name in BUILTIN_FIELDS and BUILTIN_FIELDS[name] != field_type:
        raise InvalidInput.field(f"{where}.fieldType", f"{name} is a {BUILTIN_FIELDS[name]} field")
    if operator not in OPERATORS[field_type]:
        allowed = ", ".join(OPERATORS[field_type])
        raise InvalidInput.field(f"{where}.operator", f"for a {field_type} field must be one of {allowed}")
    value = (
        None
        if operator in NO_VALUE_OPERATORS
        else _value(field_type, operator, raw.get("value"), f"{where}.value")
    )
    return {"field": name, "fieldType": field_type, "operator": operator, "value": value}


def _value(field_type: str, operator: str, value: Any, where: str) -> Any:
    if operator == "between":
        if not isinstance(value, list) or len(value) != 2:
            raise InvalidInput.field(where, "between needs a list of two values [from, to]")
        low, high = (_scalar(field_type, v, where) for v in value)
        if _order_key(field_type, low) > _order_key(field_type, high):
            raise InvalidInput.field(where, "the first value of between must not be after the second")
        return [low, high]
    return _scalar(field_type, value, where)


def _scalar(field_type: str, value: Any, where: str) -> Any:
    if field_type == "string":
        if not isinstance(value, str) or len(value) > MAX_STRING_VALUE:
            raise InvalidInput.field(where, f"must be a string of at most {MAX_STRING_VALUE} characters")
        return value
    if field_type == "number":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InvalidInput.field(where, "must be a number")
        return value
    if field_type == "boolean":
        if not isinstance(value, bool):
            raise InvalidInput.field(where, "must be true or false")
        return value
    date_interval(value, where=where)
    return value.strip()


def _order_key(field_type: str, value: Any) -> Any:
    return date_interval(value)[0] if field_type == "date" else value


def date_interval(value: Any, *, where: str = "value") -> tuple[datetime, datetime]:
    """[start, end) in UTC that a date value stands for: a whole day, or one millisecond."""
    if not isinstance(value, str):
        raise InvalidInput.field(where, "must be an ISO 8601 date or date-time string")
    text = value.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            start = datetime(day.year, day.month, day.day, tzinfo=UTC)
            return start, start + timedelta(days=1)
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput.field(where, "must be an ISO 8601 date or date-time string") from None
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    moment = moment.replace(microsecond=moment.microsecond // 1000 * 1000)
    return moment, moment + ONE_MILLISECOND
