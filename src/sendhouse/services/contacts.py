"""Contacts: create, upsert by email, get, delete, search, bulk update, remove, unsubscribe groups.

One contact per email per project (stored under its key, domain/emails.py). Create refuses a
known email with 409 CONTACT_ALREADY_EXISTS; upsert and bulk update create or update. listIds add
the contact to existing plain lists of the project (a segment is refused, an unknown id is 404).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from sendhouse.domain import emails, ids
from sendhouse.domain.contacts import GLOBAL_CONTACT_LIST, clean_contact, clean_list_ids
from sendhouse.domain.times import iso, utcnow
from sendhouse.errors import AppError, Conflict, InvalidInput, NotFound
from sendhouse.services import automation_triggers as triggers
from sendhouse.services import webhooks
from sendhouse.store import contacts as store
from sendhouse.store import properties as property_store
from sendhouse.store import segments as segment_store
from sendhouse.store.db import Database

EMAILS_MAX = 1000
BULK_MAX = 100


def present_contact(row: dict, list_ids: list[str], segment_ids: list[str]) -> dict:
    """AutoSend's contact object."""
    return {
        "id": row["id"],
        "email": row["email"],
        "firstName": row["first_name"],
        "lastName": row["last_name"],
        "userId": row["user_id"],
        "mobile": row["mobile"],
        "customFields": row["custom_fields"] or {},
        "listIds": list_ids,
        "segmentIds": segment_ids,
        "projectId": row["project_id"],
        "createdAt": iso(row["created_at"]),
        "updatedAt": iso(row["updated_at"]),
    }


async def _present_many(conn: AsyncConnection, rows: list[dict]) -> list[dict]:
    """Contact objects with their list and segment memberships (a few queries for all rows)."""
    if not rows:
        return []
    contact_ids = [r["id"] for r in rows]
    lists = await store.list_ids_of(conn, contact_ids)
    segments = await segment_store.segment_ids_for_contacts(conn, rows[0]["project_id"], contact_ids)
    return [present_contact(r, lists[r["id"]], segments[r["id"]]) for r in rows]


def _not_found() -> NotFound:
    return NotFound("Contact not found", code="CONTACT_NOT_FOUND")


async def _check_lists(conn: AsyncConnection, project_id: str, list_ids: list[str]) -> list[str]:
    """The plain list ids to join (GLOBAL_CONTACT_LIST holds everyone and needs no row)."""
    wanted = [i for i in list_ids if i != GLOBAL_CONTACT_LIST]
    kinds = await store.list_types(conn, project_id, wanted)
    for list_id in wanted:
        if list_id not in kinds:
            raise NotFound(f"Contact list {list_id} not found", code="CONTACT_LIST_NOT_FOUND")
        if kinds[list_id] != "list":
            raise InvalidInput.field(
                "listIds", f"{list_id} is a segment; contacts can only be added to lists"
            )
    return wanted


def _new_row(project_id: str, values: dict, source: str) -> dict:
    now = utcnow()
    custom = {k: v for k, v in values.pop("custom_fields").items() if v is not None}
    blank = {"first_name": None, "last_name": None, "user_id": None, "mobile": None}
    return {
        **blank,
        **values,
        "id": ids.new_id(),
        "project_id": project_id,
        "custom_fields": custom,
        "source": source,
        "created_at": now,
        "updated_at": now,
    }


async def create_contact(db: Database, project_id: str, body: dict[str, Any]) -> dict:
    """Create a contact; 409 CONTACT_ALREADY_EXISTS when the email is known in the project."""
    async with db.write() as conn:
        values = clean_contact(body, await property_store.property_types(conn, project_id), upsert=False)
        list_ids = await _check_lists(conn, project_id, clean_list_ids(body.get("listIds")))
        row = _new_row(project_id, values, "api")
        if not await store.insert_if_new(conn, row):
            raise Conflict(
                "A contact with this email already exists; use POST /contacts/email to upsert",
                code="CONTACT_ALREADY_EXISTS",
            )
        await store.add_memberships(conn, row["id"], list_ids, row["created_at"])
        await webhooks.emit_contact_change(conn, None, row)
        await triggers.contacts_changed(conn, project_id, [(None, row)], added_to=list_ids)
        return (await _present_many(conn, [row]))[0]


async def _upsert_in(
    conn: AsyncConnection,
    project_id: str,
    body: dict,
    types: dict[str, str],
    *,
    flows: list[dict] | None = None,
) -> dict:
    """Create or update one contact by email inside a transaction (entering the automations the
    change triggers, of `flows` when given); return the stored row."""
    values = clean_contact(body, types, upsert=True)
    list_ids = await _check_lists(conn, project_id, clean_list_ids(body.get("listIds")))
    email, patch = values["email"], dict(values["custom_fields"])
    row = _new_row(project_id, dict(values), "api")
    before = None
    if not await store.insert_if_new(conn, row):
        before = await store.find_by_email(conn, project_id, email)
        changes = {k: v for k, v in values.items() if k not in ("email", "custom_fields")}
        await store.update_by_email(
            conn, project_id, email, {**changes, "updated_at": row["updated_at"]}, patch
        )
        row = await store.find_by_email(conn, project_id, email) or row
    await webhooks.emit_contact_change(conn, before, row)
    added = await store.add_memberships(conn, row["id"], list_ids, row["updated_at"])
    await triggers.contacts_changed(conn, project_id, [(before, row)], added_to=added, flows=flows)
    return row


async def upsert_contact(db: Database, project_id: str, body: dict[str, Any]) -> dict:
    """Create or update by email: "" clears firstName/lastName/userId/mobile, null or absent keeps them."""
    async with db.write() as conn:
        row = await _upsert_in(conn, project_id, body, await property_store.property_types(conn, project_id))
        return (await _present_many(conn, [row]))[0]


async def get_contact(db: Database, project_id: str, contact_id: str) -> dict:
    async with db.read() as conn:
        row = await store.get_contact(conn, project_id, contact_id)
        if row is None:
            raise _not_found()
        return (await _present_many(conn, [row]))[0]


async def delete_contact(db: Database, project_id: str, contact_id: str) -> None:
    async with db.write() as conn:
        before = await store.get_contact(conn, project_id, contact_id)
        if not await store.delete_contact(conn, project_id, contact_id):
            raise _not_found()
        await webhooks.emit_contact_change(conn, before, None)


async def delete_by_user_id(db: Database, project_id: str, user_id: str) -> int:
    """Delete every contact of the project carrying this userId; 404 when there is none."""
    async with db.write() as conn:
        deleted = await store.delete_by_user_id(conn, project_id, user_id)
        await webhooks.emit_contact_changes(conn, project_id, [(row, None) for row in deleted])
    if not deleted:
        raise _not_found()
    return len(deleted)


async def search_by_emails(db: Database, project_id: str, addresses: Any) -> list[dict]:
    wanted = emails.keys(addresses, "emails", most=EMAILS_MAX)
    async with db.read() as conn:
        return await _present_many(conn, await store.find_by_emails(conn, project_id, wanted))


async def remove_by_emails(db: Database, project_id: str, addresses: Any) -> list[str]:
    """Delete the contacts with these emails; return the removed ids (unknown emails are ignored)."""
    wanted = emails.keys(addresses, "emails", most=EMAILS_MAX)
    async with db.write() as conn:
        deleted = await store.delete_by_emails(conn, project_id, wanted)
        await webhooks.emit_contact_changes(conn, project_id, [(row, None) for row in deleted])
    return [row["id"] for row in deleted]


async def bulk_update(db: Database, project_id: str, items: Any, *, run_workflow: bool | None = None) -> dict:
    """Create or update 1–100 contacts by email; a bad item is counted and reported, not fatal.
    `runWorkflow: false` changes the contacts without entering them into automations."""
    if not isinstance(items, list) or not 1 <= len(items) <= BULK_MAX:
        raise InvalidInput.field("contacts", f"must be an array of 1 to {BULK_MAX} contacts")
    errors: list[dict] = []
    async with db.write() as conn:
        types = await property_store.property_types(conn, project_id)
        flows = [] if run_workflow is False else await triggers.watching(conn, project_id)
        for index, item in enumerate(items):
            problem = await _bulk_one(conn, project_id, item, types, flows)
            if problem:
                errors.append(
                    {
                        "index": index,
                        "email": item.get("email") if isinstance(item, dict) else None,
                        **problem,
                    }
                )
    done = len(items) - len(errors)
    return {"successCount": done, "failedCount": len(errors), "totalCount": len(items), "errors": errors}


async def _bulk_one(
    conn: AsyncConnection, project_id: str, item: Any, types: dict, flows: list[dict]
) -> dict | None:
    """Upsert one bulk item in a savepoint; the error as {code, message, details} when it fails."""
    if not isinstance(item, dict):
        return {"code": "VALIDATION_FAILED", "message": "each contact must be an object"}
    try:
        async with conn.begin_nested():
            await _upsert_in(conn, project_id, item, types, flows=flows)
    except AppError as exc:
        return {"code": exc.code, "message": exc.message, "details": exc.details}
    return None


async def unsubscribe_groups(db: Database, project_id: str, contact_id: str) -> list[dict]:
    async with db.read() as conn:
        row = await store.get_contact(conn, project_id, contact_id)
        if row is None:
            raise _not_found()
        return await store.unsubscribe_groups(conn, project_id, row["email"])


COPIED_FIELDS = ("first_name", "last_name", "user_id", "mobile", "custom_fields")


async def duplicate_contact(db: Database, project_id: str, source_email: Any, new_email: Any) -> dict:
    """A new contact at `new_email` with the source's names, userId, mobile, custom fields and
    lists; {sourceContact, newContact}. 404 without the source, 409 when the new email is taken."""
    source_email = emails.key(source_email, "sourceEmail")
    new_email = emails.key(new_email, "newEmail")
    async with db.write() as conn:
        source = await store.find_by_email(conn, project_id, source_email)
        if source is None:
            raise _not_found()
        row = _copy_row(source, new_email)
        if not await store.insert_if_new(conn, row):
            raise Conflict("A contact with this email already exists", code="CONTACT_ALREADY_EXISTS")
        lists = await store.list_ids_of(conn, [source["id"]])
        added = await store.add_memberships(conn, row["id"], lists[source["id"]], row["created_at"])
        await webhooks.emit_contact_change(conn, None, row)
        await triggers.contacts_changed(conn, project_id, [(None, row)], added_to=added)
        presented = await _present_many(conn, [source, row])
    return {"sourceContact": presented[0], "newContact": presented[1]}


def _copy_row(source: dict, email: str) -> dict:
    now = utcnow()
    copied = {k: source[k] for k in COPIED_FIELDS}
    return {
        **copied,
        "custom_fields": dict(source["custom_fields"] or {}),
        "id": ids.new_id(),
        "project_id": source["project_id"],
        "email": email,
        "source": "api",
        "created_at": now,
        "updated_at": now,
    }


async def update_custom_fields(db: Database, project_id: str, email: Any, fields: Any) -> dict:
    """Merge custom fields into the contact with this email: given keys are set (null removes
    one), others stay. 404 when the project has no such contact."""
    if not isinstance(fields, dict) or not fields:
        raise InvalidInput.field("body", "must be an object of one or more custom fields")
    email = emails.key(email, "email")
    async with db.write() as conn:
        values = clean_contact(
            {"email": email, "customFields": fields},
            await property_store.property_types(conn, project_id),
            upsert=True,
        )
        before = await store.find_by_email(conn, project_id, email)
        if before is None:
            raise _not_found()
        await store.update_by_email(
            conn, project_id, email, {"updated_at": utcnow()}, values["custom_fields"]
        )
        row = await store.find_by_email(conn, project_id, email)
        assert row is not None  # updated just above, in this transaction
        await webhooks.emit_contact_change(conn, before, row)
        return (await _present_many(conn, [row]))[0]
