"""Custom event rules (reference §1): names, property schemas, and the coercion of sent values.

An event name and each property name is ASCII letters, digits and `_`, at most 64 characters.
A property is typed string | number | date | boolean with up to 50 `suggestedValues` (an array or a
comma-separated string), each coerced to the type. Sent values are coerced the same way: numbers
from numeric strings, booleans from true/false (any case) or 1/0, dates to ISO 8601 UTC.
Declared properties are optional when sending; undeclared keys are refused.
"""

from __future__ import annotations

import math
import re
from typing import Any

from sendhouse.domain.segments import date_interval
from sendhouse.domain.times import iso
from sendhouse.errors import InvalidInput, InvalidOperation

NAME = re.compile(r"^[A-Za-z0-9_]{1,64}$")
TYPES = ("string", "number", "date", "boolean")
MAX_PROPERTIES = 50
MAX_SUGGESTED = 50
MAX_EVENTS = 100
MAX_DESCRIPTION = 1000
MAX_STRING = 10_000


def check_event_name(value: Any) -> str:
    """A valid event name, else 400 INVALID_EVENT_NAME_CHARACTERS (or VALIDATION_FAILED when missing)."""
    if not isinstance(value, str) or not value:
        raise InvalidInput.field("eventName", "eventName is required (a string)")
    if len(value) > 64:
        raise InvalidInput.field("eventName", "eventName is at most 64 characters")
    if not NAME.match(value):
        raise InvalidOperation(
            "Event name may only contain letters, digits and underscores",
            code="INVALID_EVENT_NAME_CHARACTERS",
        )
    return value


def check_description(value: Any) -> str | None:
    if value is not None and (not isinstance(value, str) or len(value) > MAX_DESCRIPTION):
        raise InvalidInput.field("description", f"must be a string of at most {MAX_DESCRIPTION} characters")
    return value


def check_properties(value: Any) -> list[dict]:
    """The normalized property schema: [{propertyName, type, description, suggestedValues}]."""
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > MAX_PROPERTIES:
        raise InvalidInput.field("properties", f"must be an array of at most {MAX_PROPERTIES} properties")
    found = [_property(item, f"properties[{i}]") for i, item in enumerate(value)]
    names = [p["propertyName"] for p in found]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise InvalidInput.field(f"properties[{i}].propertyName", f"duplicate property name {name}")
    return found


def _property(item: Any, where: str) -> dict:
    if not isinstance(item, dict):
        raise InvalidInput.field(where, "must be an object {propertyName, type}")
    name, kind = item.get("propertyName"), item.get("type")
    if not isinstance(name, str) or not NAME.match(name):
        raise InvalidInput.field(f"{where}.propertyName", "letters, digits and _ only, 1 to 64 characters")
    if kind not in TYPES:
        raise InvalidInput.field(f"{where}.type", f"must be one of {', '.join(TYPES)}")
    description = item.get("description")
    if description is not None and (not isinstance(description, str) or len(description) > MAX_DESCRIPTION):
        raise InvalidInput.field(f"{where}.description", f"a string of at most {MAX_DESCRIPTION} characters")
    return {
        "propertyName": name,
        "type": kind,
        "description": description,
        "suggestedValues": _suggested(item.get("suggestedValues"), kind, f"{where}.suggestedValues"),
    }


def _suggested(value: Any, kind: str, where: str) -> list:
    if value is None:
        return []
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, list) or len(value) > MAX_SUGGESTED:
        raise InvalidInput.field(
            where, f"an array (or comma-separated string) of at most {MAX_SUGGESTED} values"
        )
    try:
        return [coerce(kind, v) for v in value]
    except (TypeError, ValueError) as exc:
        raise InvalidInput.field(where, f"each value must be a {kind}: {exc}") from None


def coerce(kind: str, value: Any) -> Any:
    """`value` as a `kind`; ValueError when it cannot be one."""
    if kind == "string":
        if isinstance(value, (dict, list)) or value is None:
            raise ValueError("not a string")
        text = (
            value if isinstance(value, str) else str(value).lower() if isinstance(value, bool) else str(value)
        )
        if len(text) > MAX_STRING:
            raise ValueError(f"longer than {MAX_STRING} characters")
        return text
    if kind == "number":
        return _number(value)
    if kind == "boolean":
        return _boolean(value)
    if not isinstance(value, str):
        raise TypeError("not an ISO 8601 date")
    try:
        return iso(date_interval(value)[0])
    except InvalidInput:
        raise ValueError("not an ISO 8601 date") from None


def _number(value: Any) -> int | float:
    if isinstance(value, bool):
        raise TypeError("not a number")
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise ValueError("not a number") from None
        if not math.isfinite(number):
            raise ValueError("not a number")
        return (
            int(number) if number.is_integer() and "." not in value and "e" not in value.lower() else number
        )
    raise ValueError("not a number")


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0"):
        return value.strip().lower() in ("true", "1")
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise ValueError("not a boolean")


def coerce_sent(event_name: str, schema: list[dict], values: Any) -> dict:
    """The sent eventProperties coerced to their declared types (UNKNOWN_PROPERTY, INVALID_PROPERTY_VALUE)."""
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise InvalidInput.field("eventProperties", "must be an object")
    types = {p["propertyName"]: p["type"] for p in schema}
    coerced = {}
    for key, value in values.items():
        if key not in types:
            raise InvalidOperation(
                f'Property "{key}" is not defined for event "{event_name}"', code="UNKNOWN_PROPERTY"
            )
        try:
            coerced[key] = None if value is None else coerce(types[key], value)
        except (TypeError, ValueError):
            raise InvalidOperation(
                f'Property "{key}" must be a {types[key]}', code="INVALID_PROPERTY_VALUE"
            ) from None
    return coerced
