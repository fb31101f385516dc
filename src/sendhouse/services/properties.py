"""Contact properties (typed custom fields): list, create, get, delete, and their two shapes.

The current shape is AutoSend's `/contact-properties` object; the deprecated `/custom-fields`
shape is the same data under fieldName/fieldType. Built-in fields (email, firstName, lastName,
createdAt, userId) are listed when asked and cannot be created, fetched by name or deleted.
Deleting a property leaves the values contacts already carry (they become untyped keys).
"""

from __future__ import annotations

from typing import Any

from sendhouse.domain import ids
from sendhouse.domain.contacts import (
    BUILTIN_PROPERTIES,
    check_property_name,
    check_property_type,
    typed_value,
)
from sendhouse.domain.times import iso, utcnow
from sendhouse.errors import Conflict, InvalidInput, NotFound
from sendhouse.store import properties as store
from sendhouse.store.db import Database

DESCRIPTION_MAX = 500


def present_property(row: dict) -> dict:
    """AutoSend's contact property object (with the legacy fieldName/fieldType names too)."""
    return {
        "id": row["id"],
        "name": row["name"],
        "type": row["type"],
        "fieldName": row["name"],
        "fieldType": row["type"],
        "description": row["description"],
        "defaultValue": row["default_value"],
        "isReserved": False,
        "createdAt": iso(row["created_at"]),
        "updatedAt": iso(row["updated_at"]),
    }


def present_custom_field(row: dict) -> dict:
    """The deprecated /custom-fields object."""
    return {
        "id": row["id"],
        "fieldName": row["name"],
        "fieldType": row["type"],
        "description": row["description"],
        "defaultValue": row["default_value"],
        "projectId": row["project_id"],
        "createdAt": iso(row["created_at"]),
        "updatedAt": iso(row["updated_at"]),
    }


def _builtin(name: str, kind: str) -> dict:
    return {
        "id": name,
        "name": name,
        "type": kind,
        "fieldName": name,
        "fieldType": kind,
        "description": None,
        "defaultValue": None,
        "isReserved": True,
        "createdAt": None,
        "updatedAt": None,
    }


async def list_properties(db: Database, project_id: str, *, include_reserved: bool = True) -> list[dict]:
    """Presented properties: the built-ins first (when asked), then the project's in creation order."""
    async with db.read() as conn:
        rows = await store.list_properties(conn, project_id)
    builtins = [_builtin(name, kind) for name, kind in BUILTIN_PROPERTIES] if include_reserved else []
    return builtins + [present_property(r) for r in rows]


async def list_property_rows(db: Database, project_id: str) -> list[dict]:
    async with db.read() as conn:
        return await store.list_properties(conn, project_id)


def _check_new(name: Any, kind: Any, description: Any, default: Any, fields: tuple[str, str]) -> None:
    check_property_name(name, fields[0])
    check_property_type(kind, fields[1])
    if description is not None and (not isinstance(description, str) or len(description) > DESCRIPTION_MAX):
        raise InvalidInput.field("description", f"must be a string of at most {DESCRIPTION_MAX} characters")
    if default is not None and typed_value(kind, default)[1]:
        raise InvalidInput.field(
            "defaultValue", f"{typed_value(kind, default)[1]} (the property is a {kind})"
        )


async def create_property(
    db: Database,
    project_id: str,
    *,
    name: Any,
    kind: Any,
    description: Any = None,
    default: Any = None,
    legacy: bool = False,
) -> dict:
    """Create a property; names are unique per project ignoring case (409 otherwise)."""
    _check_new(name, kind, description, default, ("fieldName", "fieldType") if legacy else ("name", "type"))
    now = utcnow()
    row = {
        "id": ids.new_id(),
        "project_id": project_id,
        "name": name,
        "type": kind,
        "description": description,
        "default_value": None if default is None else typed_value(kind, default)[0],
        "created_at": now,
        "updated_at": now,
    }
    async with db.write() as conn:
        if await store.name_taken(conn, project_id, name) or not await store.insert_property(conn, row):
            code = "CUSTOM_FIELD_ALREADY_EXISTS" if legacy else "CONTACT_PROPERTY_ALREADY_EXISTS"
            raise Conflict(f"A contact property named {name!r} already exists", code=code)
    return row


def _not_found(name: str, legacy: bool) -> NotFound:
    if legacy:
        return NotFound(f"Custom field {name!r} not found", code="CUSTOM_FIELD_NOT_FOUND")
    return NotFound(f"Contact property {name!r} not found", code="CONTACT_PROPERTY_NOT_FOUND")


async def get_property(db: Database, project_id: str, name: str, *, legacy: bool = False) -> dict:
    async with db.read() as conn:
        row = await store.get_property(conn, project_id, name)
    if row is None:
        raise _not_found(name, legacy)
    return row


async def delete_property(db: Database, project_id: str, name: str, *, legacy: bool = False) -> None:
    async with db.write() as conn:
        if not await store.delete_property(conn, project_id, name):
            raise _not_found(name, legacy)
