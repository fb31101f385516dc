"""Custom events (reference §1): definitions (list, create, get, replace-properties, soft delete)
and `/events/send`, which stores the event in the contact's log and enrols the contact into the
active automations the event triggers, in the same transaction (so a crash never loses an entry).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import IntegrityError

from sendhouse.domain import emails, ids
from sendhouse.domain import events as rules
from sendhouse.domain.times import iso, utcnow
from sendhouse.errors import Conflict, InvalidInput, InvalidOperation, NotFound
from sendhouse.services import automation_triggers as triggers
from sendhouse.services import idempotency
from sendhouse.store import contacts as contact_store
from sendhouse.store import custom_events as store
from sendhouse.store.db import Database

CONTACT_EVENTS_SHOWN = 50


def present_definition(row: dict, *, with_project: bool = False) -> dict:
    data = {
        "id": row["id"],
        "eventName": row["event_name"],
        "description": row["description"],
        "properties": row["properties"] or [],
        "createdAt": iso(row["created_at"]),
        "updatedAt": iso(row["updated_at"]),
    }
    return {**data, "projectId": row["project_id"]} if with_project else data


def present_event(row: dict) -> dict:
    return {
        "id": row["id"],
        "eventName": row["event_name"],
        "contactId": row["contact_id"],
        "properties": row["properties"] or {},
        "createdAt": iso(row["created_at"]),
    }


def _not_found() -> NotFound:
    return NotFound("Event not found", code="EVENT_NOT_FOUND")


async def list_definitions(db: Database, project_id: str) -> dict:
    async with db.read() as conn:
        return {"events": [present_definition(r) for r in await store.list_definitions(conn, project_id)]}


async def create_definition(db: Database, project_id: str, body: dict[str, Any]) -> dict:
    """A new definition; INVALID_EVENT_NAME_CHARACTERS, EVENT_ALREADY_EXISTS, MAX_EVENTS_REACHED."""
    name = rules.check_event_name(body.get("eventName"))
    description = rules.check_description(body.get("description"))
    properties = rules.check_properties(body.get("properties"))
    now = utcnow()
    row = {
        "id": ids.new_id(),
        "project_id": project_id,
        "event_name": name,
        "description": description,
        "properties": properties,
        "created_at": now,
        "updated_at": now,
    }
    async with db.write() as conn:
        await store.lock_project(conn, project_id)  # two creates cannot both pass the limit
        if await store.get_definition(conn, project_id, name) is not None:
            raise _exists()
        if await store.count_definitions(conn, project_id) >= rules.MAX_EVENTS:
            raise InvalidOperation(
                f"A project can have at most {rules.MAX_EVENTS} events", code="MAX_EVENTS_REACHED"
            )
        try:
            async with conn.begin_nested():
                await store.insert_definition(conn, row)
        except IntegrityError:
            raise _exists() from None
    return present_definition(row, with_project=True)


def _exists() -> Conflict:
    return Conflict("Event with this name already exists in the project", code="EVENT_ALREADY_EXISTS")


async def get_definition(db: Database, project_id: str, name: str) -> dict:
    async with db.read() as conn:
        row = await store.get_definition(conn, project_id, name)
    if row is None:
        raise _not_found()
    return present_definition(row)


async def update_definition(db: Database, project_id: str, name: str, body: dict[str, Any]) -> dict:
    """Description and/or the whole property schema (replaced); NO_DATA_TO_UPDATE when neither."""
    values: dict[str, Any] = {}
    if body.get("description") is not None:
        values["description"] = rules.check_description(body["description"])
    if body.get("properties") is not None:
        values["properties"] = rules.check_properties(body["properties"])
    async with db.write() as conn:
        if not values:  # an unknown name is 404 before the empty body is 400
            if await store.get_definition(conn, project_id, name) is None:
                raise _not_found()
            raise InvalidOperation("Provide description or properties to update", code="NO_DATA_TO_UPDATE")
        row = await store.update_definition(conn, project_id, name, {**values, "updated_at": utcnow()})
    if row is None:
        raise _not_found()
    return present_definition(row)


async def delete_definition(db: Database, project_id: str, name: str) -> None:
    async with db.write() as conn:
        if not await store.soft_delete(conn, project_id, name, utcnow()):
            raise _not_found()


async def send_event(
    db: Database, project_id: str, body: dict[str, Any], *, idempotency_record: idempotency.Key | None = None
) -> dict:
    """Log an event for a contact and enrol it into the automations it triggers (one transaction)."""
    name = body.get("eventName")
    if not isinstance(name, str) or not name:
        raise InvalidInput.field("eventName", "eventName is required (a string)")
    contact_id, email = body.get("contactId"), body.get("email")
    if not contact_id and not email:
        raise InvalidOperation("Either email or contactId is required", code="EMAIL_OR_CONTACT_ID_REQUIRED")
    async with db.write() as conn:
        definition = await store.get_definition(conn, project_id, name)
        if definition is None:
            raise _not_found()
        contact = await _contact(conn, project_id, contact_id, email)
        properties = rules.coerce_sent(name, definition["properties"] or [], body.get("eventProperties"))
        row = {
            "id": ids.new_id(),
            "project_id": project_id,
            "contact_id": contact["id"],
            "event_name": name,
            "properties": properties,
            "created_at": utcnow(),
        }
        await store.insert_event(conn, row)
        await triggers.event_received(conn, project_id, contact, row)
        data = present_event(row)
        await idempotency.record(conn, idempotency_record, data, status_code=201)
    return data


async def _contact(conn, project_id: str, contact_id: Any, email: Any) -> dict:
    """The contact by id (which wins) or by email; CONTACT_NOT_FOUND_FOR_EVENT."""
    if contact_id:
        if not isinstance(contact_id, str):
            raise InvalidInput.field("contactId", "must be a string")
        found = await contact_store.get_contact(conn, project_id, contact_id)
    else:
        found = await contact_store.find_by_email(conn, project_id, emails.key(email, "email"))
    if found is None:
        raise NotFound("No contact matches this email or contactId", code="CONTACT_NOT_FOUND_FOR_EVENT")
    return found


async def contact_events(db: Database, project_id: str, contact_id: str) -> list[dict]:
    """The contact's latest events, newest first (its activity)."""
    async with db.read() as conn:
        if await contact_store.get_contact(conn, project_id, contact_id) is None:
            raise NotFound("Contact not found", code="CONTACT_NOT_FOUND")
        return [
            present_event(r) for r in await store.events_of_contact(conn, contact_id, CONTACT_EVENTS_SHOWN)
        ]


async def latest_events(db: Database, project_id: str, limit: int = CONTACT_EVENTS_SHOWN) -> list[dict]:
    async with db.read() as conn:
        return [present_event(r) for r in await store.latest_events(conn, project_id, limit)]
