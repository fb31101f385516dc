"""Contact rules: reserved names, field limits and typed custom field values.

A contact's email is stored as its key (domain/emails.py: the normalised address lower-cased).

Custom fields (our decisions where AutoSend is silent):
* a key with a contact property is checked against the property's type: string -> JSON string,
  number -> JSON number (not a boolean), boolean -> JSON boolean, date -> an ISO 8601 string
  (stored as `YYYY-MM-DD` for a date, or as a UTC `...Z` timestamp for a date-time);
* a key without a property is kept as given when its value is a string, number or boolean
  (AutoSend lets customFields carry ad-hoc keys); objects and arrays are refused everywhere;
* `null` removes the key (on upsert), reserved names are refused as keys.
"""

from __future__ import annotations

import math
import re
from datetime import date
from typing import Any

from sendhouse.domain import emails
from sendhouse.domain.times import iso, parse_iso
from sendhouse.errors import InvalidInput

PROPERTY_TYPES = ("string", "number", "boolean", "date")
BUILTIN_PROPERTIES = (
    ("email", "string"),
    ("firstName", "string"),
    ("lastName", "string"),
    ("createdAt", "date"),
    ("userId", "string"),
)
RESERVED_NAMES = frozenset(
    name.lower()
    for name in (
        "email",
        "firstName",
        "first_name",
        "lastName",
        "last_name",
        "mobile",
        "unsubscribe",
        "unsubscribed",
        "unsubscribe_groups",
        "unsubscribe_preferences",
        "userId",
        "externalId",
        "createdAt",
        "updatedAt",
        "contactLists",
        "address",
        "address_line_1",
        "address_line_2",
        "city",
        "state",
        "zip",
        "country",
    )
)
NAME_MAX, TEXT_MAX, STRING_VALUE_MAX, MAX_CUSTOM_FIELDS = 100, 200, 10_000, 100
NAME_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
TEXT_FIELDS = {"firstName": "first_name", "lastName": "last_name", "userId": "user_id"}
# The virtual list of every contact of a project (AutoSend's id and name for it).
GLOBAL_CONTACT_LIST = "GLOBAL_CONTACT_LIST"
GLOBAL_NAME = "All Contacts"

_MOBILE_SEPARATORS = re.compile(r"[\s().-]")
_E164 = re.compile(r"\+[1-9][0-9]{1,14}")


def mobile_or_error(value: str) -> tuple[str | None, str | None]:
    """(E.164 number, None) or (None, message). Spaces, dots, dashes and parentheses are dropped."""
    number = _MOBILE_SEPARATORS.sub("", value)
    if number.startswith("00"):
        number = "+" + number[2:]
    if not _E164.fullmatch(number):
        return None, "mobile must be an E.164 phone number such as +14155550123"
    return number, None


def check_property_name(name: Any, field: str = "name") -> str:
    """A valid, non-reserved property name (or custom field key)."""
    if not isinstance(name, str) or not 1 <= len(name) <= NAME_MAX:
        raise InvalidInput.field(field, f"must be a string of 1 to {NAME_MAX} characters")
    if not NAME_PATTERN.fullmatch(name):
        raise InvalidInput.field(
            field, "must start with a letter or _ and hold only letters, digits, _ and -"
        )
    if name.lower() in RESERVED_NAMES:
        raise InvalidInput.field(field, f"{name!r} is a reserved contact field")
    return name


def check_property_type(value: Any, field: str = "type") -> str:
    if value not in PROPERTY_TYPES:
        raise InvalidInput.field(field, "must be one of string, number, boolean, date")
    return value


def normalize_date(text: str) -> str | None:
    """`YYYY-MM-DD` for an ISO date, a UTC timestamp for an ISO date-time, None when not ISO 8601."""
    text = text.strip()
    if len(text) in (8, 10):
        try:
            return date.fromisoformat(text).isoformat()
        except ValueError:
            return None
    try:
        return iso(parse_iso(text, field="date")) if "T" in text or " " in text else None
    except InvalidInput:
        return None


def typed_value(kind: str | None, value: Any) -> tuple[Any, str | None]:
    """(stored value, None) or (None, message) for one custom field value given as JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None, "must be a finite number"
    if kind is None:
        ok = isinstance(value, (str, int, float)) and not (
            isinstance(value, str) and len(value) > STRING_VALUE_MAX
        )
        return (value, None) if ok else (None, "must be a string, number or boolean")
    if kind == "number":
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return (value, None) if ok else (None, "must be a number")
    if kind == "boolean":
        return (value, None) if isinstance(value, bool) else (None, "must be true or false")
    if not isinstance(value, str) or len(value) > STRING_VALUE_MAX:
        return None, f"must be a string of at most {STRING_VALUE_MAX} characters"
    if kind == "date":
        stored = normalize_date(value)
        return (stored, None) if stored else (None, "must be an ISO 8601 date or date-time")
    return value, None


def clean_custom_fields(fields: Any, types: dict[str, str], field: str = "customFields") -> dict[str, Any]:
    """Checked custom fields; a None value is kept (it means "remove this key")."""
    if not isinstance(fields, dict):
        raise InvalidInput.field(field, "must be an object")
    if len(fields) > MAX_CUSTOM_FIELDS:
        raise InvalidInput.field(field, f"at most {MAX_CUSTOM_FIELDS} keys")
    cleaned: dict[str, Any] = {}
    for key, value in fields.items():
        check_property_name(key, f"{field}.{key}")
        if value is None:
            cleaned[key] = None
            continue
        stored, problem = typed_value(types.get(key), value)
        if problem:
            raise InvalidInput.field(f"{field}.{key}", problem)
        cleaned[key] = stored
    return cleaned


def _clean_text(name: str, value: Any, *, upsert: bool) -> Any:
    """The stored value of firstName/lastName/userId/mobile; absent (...) keeps it on upsert."""
    if value is None:
        return ... if upsert else None
    if not isinstance(value, str):
        raise InvalidInput.field(name, "must be a string")
    if value == "":
        return None
    if name == "mobile":
        number, problem = mobile_or_error(value)
        if problem:
            raise InvalidInput.field(name, problem)
        return number
    if len(value) > TEXT_MAX:
        raise InvalidInput.field(name, f"must be at most {TEXT_MAX} characters")
    return value


def clean_contact(body: dict[str, Any], types: dict[str, str], *, upsert: bool) -> dict[str, Any]:
    """Column values from an API contact body.

    Keys: email, and first_name/last_name/user_id/mobile when they change; custom_fields (a patch
    whose None values remove keys). On upsert, null or absent leaves a stored value alone and ""
    clears it; on create both mean "no value".
    """
    values: dict[str, Any] = {"email": emails.key(body.get("email"), "email")}
    for name, column in {**TEXT_FIELDS, "mobile": "mobile"}.items():
        cleaned = _clean_text(name, body.get(name), upsert=upsert)
        if cleaned is not ...:
            values[column] = cleaned
    custom = body.get("customFields")
    values["custom_fields"] = {} if custom is None else clean_custom_fields(custom, types)
    return values


def clean_list_ids(value: Any, field: str = "listIds") -> list[str]:
    """The distinct list ids of a body (order kept)."""
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidInput.field(field, "must be an array of list ids")
    if len(value) > 100:
        raise InvalidInput.field(field, "at most 100 lists")
    return list(dict.fromkeys(value))


def csv_value(kind: str, text: str) -> tuple[Any, str | None]:
    """(stored value, None) or (None, message) for one CSV cell of a property of type `kind`."""
    if kind == "number":
        try:
            number = float(text)
        except ValueError:
            return None, "is not a number"
        if not math.isfinite(number):
            return None, "is not a finite number"
        return (
            int(number) if number.is_integer() and "." not in text and "e" not in text.lower() else number
        ), None
    if kind == "boolean":
        lowered = text.strip().lower()
        if lowered in ("true", "yes", "1", "y"):
            return True, None
        if lowered in ("false", "no", "0", "n"):
            return False, None
        return None, "is not a boolean (true/false, yes/no, 1/0)"
    return typed_value(kind, text)
