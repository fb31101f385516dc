"""Contact lists and segments: the use cases behind /v1/contact-lists.

A list holds contacts added to it; a segment holds whoever matches its filterCriteria right now
(a sub-segment: its parent's criteria AND its own); GLOBAL_CONTACT_LIST is every contact.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from sendhouse.domain import ids
from sendhouse.domain.contacts import GLOBAL_CONTACT_LIST
from sendhouse.domain.emails import INVALID, key_of, key_or_none
from sendhouse.domain.pagination import Page
from sendhouse.domain.segments import validate_criteria
from sendhouse.domain.times import iso, utcnow
from sendhouse.errors import InvalidInput, InvalidOperation, NotFound
from sendhouse.services import automation_triggers as triggers
from sendhouse.store import lists as store
from sendhouse.store import segments as segment_store
from sendhouse.store.db import Database
from sendhouse.store.suppressions import suppressed_among

LIST_NOT_FOUND = "CONTACT_LIST_NOT_FOUND"


def present_list(row: dict | None, count: int) -> dict:
    """AutoSend's list object (row None: the virtual "All Contacts" list)."""
    if row is None:
        return {
            "id": GLOBAL_CONTACT_LIST,
            "name": store.GLOBAL_NAME,
            "description": "Every contact of the project",
            "type": "list",
            "contactCount": count,
            "filterCriteria": None,
            "parentId": None,
            "createdAt": None,
            "updatedAt": None,
        }
    return {
        "id": row["id"],
        "name": row["name"],
        "description": row["description"],
        "type": row["type"],
        "contactCount": count,
        "filterCriteria": row["filter_criteria"] if row["type"] == "segment" else None,
        "parentId": row["parent_id"],
        "createdAt": iso(row["created_at"]),
        "updatedAt": iso(row["updated_at"]),
    }


def present_member(row: dict) -> dict:
    return {
        "id": row["id"],
        "email": row["email"],
        "firstName": row["first_name"],
        "lastName": row["last_name"],
        "createdAt": iso(row["created_at"]),
        "updatedAt": iso(row["updated_at"]),
    }


async def _target(conn: AsyncConnection, project_id: str, list_id: str) -> dict | None:
    """The live list or segment (None for GLOBAL_CONTACT_LIST), or CONTACT_LIST_NOT_FOUND."""
    if list_id == GLOBAL_CONTACT_LIST:
        return None
    row = await store.get_list(conn, project_id, list_id)
    if row is None:
        raise NotFound("Contact list not found", code=LIST_NOT_FOUND)
    return row


async def list_lists(db: Database, project_id: str, kind: str | None) -> list[dict]:
    """ "All Contacts" first (a list: left out when only segments are asked for), then the
    project's lists and segments with their counts."""
    async with db.read() as conn:
        rows = await store.list_rows(conn, project_id, kind)
        counts = await store.contact_counts(conn, project_id, rows)
        everyone = (
            []
            if kind == "segment"
            else [present_list(None, await store.contact_count(conn, project_id, None))]
        )
    return everyone + [present_list(r, counts[r["id"]]) for r in rows]


async def get_list(db: Database, project_id: str, list_id: str) -> dict:
    async with db.read() as conn:
        row = await _target(conn, project_id, list_id)
        return present_list(row, await store.contact_count(conn, project_id, row))


@dataclass(frozen=True)
class NewList:
    name: str
    description: str | None = None
    type: str = "list"
    filter_criteria: dict | None = None
    parent_id: str | None = None


def _checked(new: NewList) -> NewList:
    name = new.name.strip()
    if not name:
        raise InvalidInput.field("name", "name is required")
    if new.type == "list":
        if new.filter_criteria is not None or new.parent_id is not None:
            field_name = "filterCriteria" if new.filter_criteria is not None else "parentId"
            raise InvalidInput.field(field_name, "only segments take filterCriteria and parentId")
        return NewList(name, new.description, "list")
    if new.filter_criteria is None:
        raise InvalidInput.field("filterCriteria", "filterCriteria is required for a segment")
    return NewList(name, new.description, "segment", validate_criteria(new.filter_criteria), new.parent_id)


async def create_list(db: Database, project_id: str, new: NewList) -> dict:
    """Create a list or (sub-)segment; names are unique among the project's live lists."""
    new = _checked(new)
    async with db.write() as conn:
        if await store.name_taken(conn, project_id, new.name):
            raise InvalidInput.field("name", "a list or segment with this name already exists")
        if new.parent_id is not None:
            parent = await store.get_list(conn, project_id, new.parent_id)
            if parent is None or parent["type"] != "segment":
                raise InvalidInput.field("parentId", "parentId must be a segment of this project")
        now = utcnow()
        row = {
            "id": ids.new_id(),
            "project_id": project_id,
            "name": new.name,
            "description": new.description,
            "type": new.type,
            "filter_criteria": new.filter_criteria,
            "parent_id": new.parent_id,
            "created_at": now,
            "updated_at": now,
            "deleted_at": None,
        }
        await store.insert_list(conn, row)
        return present_list(row, await store.contact_count(conn, project_id, row))


async def update_segment(db: Database, project_id: str, list_id: str, changed: NewList) -> dict:
    """A segment's new name, description and filterCriteria (a list's members change, not its
    definition); the name stays unique among the project's live lists."""
    changed = _checked(NewList(changed.name, changed.description, "segment", changed.filter_criteria))
    async with db.write() as conn:
        row = await _target(conn, project_id, list_id)
        if row is None or row["type"] != "segment":
            raise InvalidOperation("Only a segment's conditions can be edited", code="NOT_A_SEGMENT")
        if await store.name_taken(conn, project_id, changed.name, other_than=list_id):
            raise InvalidInput.field("name", "a list or segment with this name already exists")
        values = {
            "name": changed.name,
            "description": changed.description,
            "filter_criteria": changed.filter_criteria,
            "updated_at": utcnow(),
        }
        await store.update_list(conn, project_id, list_id, values)
        row = {**row, **values}
        return present_list(row, await store.contact_count(conn, project_id, row))


async def delete_list(db: Database, project_id: str, list_id: str) -> dict:
    """Soft-delete a list or segment no unfinished campaign uses; return it as it was."""
    async with db.write() as conn:
        row = await _target(conn, project_id, list_id)
        if row is None:
            raise InvalidOperation("All Contacts cannot be deleted", code="CANNOT_DELETE_GLOBAL_CONTACT_LIST")
        shown = present_list(row, await store.contact_count(conn, project_id, row))
        if not await store.soft_delete(conn, project_id, list_id, utcnow()):
            raise InvalidOperation(
                "The contact list is used by a campaign that has not finished",
                code="CANNOT_DELETE_CONTACT_LIST_IN_USE",
            )
    return shown


async def search_contacts(
    db: Database, project_id: str, list_id: str, email: str | None, page: Page
) -> tuple[list[dict], int]:
    async with db.read() as conn:
        row = await _target(conn, project_id, list_id)
        segment_rows = await segment_store.load_segments(conn, project_id)
        condition = store.membership_condition(row, segment_rows, dialect=conn.dialect.name)
        known = row["member_count"] if row is not None and row["type"] == "list" and not email else None
        found, total = await store.search_members(conn, project_id, condition, email, page, total=known)
    return [present_member(r) for r in found], total


@dataclass
class BulkAddResult:
    """What bulk-add did, in AutoSend's response shape (see `present`)."""

    added: int = 0
    created: int = 0
    already: int = 0
    errors: list[dict] = field(default_factory=list)
    invalid: list[dict] = field(default_factory=list)
    valid: list[dict] = field(default_factory=list)
    suppressed: list[dict] = field(default_factory=list)
    total: int = 0
    contacts: list[dict] = field(default_factory=list)
    created_ids: set[str] = field(default_factory=set)  # not shown: for the automation triggers

    def present(self) -> dict:
        return {
            "added": self.added,
            "created": self.created,
            "alreadyInList": self.already,
            "errors": self.errors,
            "validation": {"valid": self.valid, "invalid": self.invalid, "suppressed": self.suppressed},
            "totalContactsInList": self.total,
            "contacts": self.contacts,
        }


def _split_emails(emails: list[str], result: BulkAddResult) -> list[str]:
    """The keys of the valid addresses, once each; the invalid ones are recorded in result."""
    valid: dict[str, None] = {}
    for raw in emails:
        email = key_or_none(raw)
        if email is None:
            result.invalid.append({"email": raw, "status": "invalid", "reason": INVALID})
            result.errors.append({"email": raw, "error": INVALID})
        else:
            valid[email] = None
    return list(valid)


async def _create_missing(
    conn: AsyncConnection, project_id: str, emails: list[str], result: BulkAddResult
) -> list[dict]:
    known = {c["email"] for c in await store.contacts_by(conn, project_id, emails=emails)}
    now = utcnow()
    fresh: list[dict[str, Any]] = [
        {
            "id": ids.new_id(),
            "project_id": project_id,
            "email": e,
            "custom_fields": {},
            "source": "api",
            "created_at": now,
            "updated_at": now,
        }
        for e in emails
        if e not in known
    ]
    await store.insert_new_contacts(conn, fresh)
    result.created, result.created_ids = len(fresh), {c["id"] for c in fresh}
    return await store.contacts_by(conn, project_id, emails=emails)


async def _resolve_ids(
    conn: AsyncConnection, project_id: str, contact_ids: list[str], result: BulkAddResult
) -> list[dict]:
    wanted = list(dict.fromkeys(contact_ids))
    found = await store.contacts_by(conn, project_id, ids=wanted)
    known = {c["id"] for c in found}
    result.errors += [{"contactId": cid, "error": "Contact not found"} for cid in wanted if cid not in known]
    return found


def _writable(row: dict | None, *, action: str) -> None:
    if row is not None and row["type"] == "segment":
        raise InvalidOperation(
            f"Contacts cannot be {action} a segment: its members follow its criteria",
            code="CONTACT_LIST_IS_SEGMENT",
        )


async def bulk_add(
    db: Database, project_id: str, list_id: str, *, emails: list[str], contact_ids: list[str]
) -> dict:
    """Add contacts (by email, creating unknown ones, or by id) to a list; report what happened."""
    result = BulkAddResult()
    async with db.write() as conn:
        row = await _target(conn, project_id, list_id)
        _writable(row, action="added to")
        if emails:
            found = await _create_missing(conn, project_id, _split_emails(emails, result), result)
        else:
            found = await _resolve_ids(conn, project_id, contact_ids, result)
        before = await store.members_among(conn, row["id"], [c["id"] for c in found]) if row else set()
        await _add_found(conn, project_id, row, found, result)
        pairs = [(None if c["id"] in result.created_ids else c, c) for c in found if c["id"] not in before]
        await triggers.contacts_changed(conn, project_id, pairs, added_to=[row["id"]] if row else [])
        result.total = await store.contact_count(conn, project_id, row)
        result.contacts = await _describe_contacts(conn, project_id, found)
    return result.present()


async def _add_found(
    conn: AsyncConnection, project_id: str, row: dict | None, found: list[dict], result: BulkAddResult
) -> None:
    ids_found = [c["id"] for c in found]
    if row is None:
        result.already, result.added = len(found) - result.created, result.created
    else:
        members = await store.members_among(conn, row["id"], ids_found)
        await store.add_members(conn, row["id"], [i for i in ids_found if i not in members], utcnow())
        result.already, result.added = len(members), len(ids_found) - len(members)
    blocked = await suppressed_among(conn, project_id, [c["email"] for c in found], None)
    for contact in found:
        status = "suppressed" if contact["email"] in blocked else "valid"
        (result.suppressed if status == "suppressed" else result.valid).append(
            {"email": contact["email"], "status": status}
        )


async def _describe_contacts(conn: AsyncConnection, project_id: str, found: list[dict]) -> list[dict]:
    contact_ids = [c["id"] for c in found]
    list_ids = await store.list_ids_of(conn, contact_ids)
    segment_ids = await segment_store.segment_ids_for_contacts(conn, project_id, contact_ids)
    return [
        {
            "id": c["id"],
            "email": c["email"],
            "createdAt": iso(c["created_at"]),
            "updatedAt": iso(c["updated_at"]),
            "projectId": c["project_id"],
            "listIds": list_ids[c["id"]],
            "segmentIds": segment_ids[c["id"]],
        }
        for c in found
    ]


async def remove_contacts(
    db: Database, project_id: str, list_id: str, *, emails: list[str], contact_ids: list[str]
) -> dict:
    """Take contacts out of a plain list: {removed, notInList, errors}."""
    async with db.write() as conn:
        row = await _target(conn, project_id, list_id)
        if row is None:
            raise InvalidOperation(
                "Contacts cannot be removed from All Contacts", code="CANNOT_MODIFY_GLOBAL_CONTACT_LIST"
            )
        _writable(row, action="removed from")
        wanted = (
            list(dict.fromkeys(key_of(e) for e in emails)) if emails else list(dict.fromkeys(contact_ids))
        )
        found = (
            await store.contacts_by(conn, project_id, emails=wanted)
            if emails
            else await store.contacts_by(conn, project_id, ids=wanted)
        )
        key = "email" if emails else "id"
        known = {c[key] for c in found}
        errors = [
            {("email" if emails else "contactId"): w, "error": "Contact not found"}
            for w in wanted
            if w not in known
        ]
        removed = await store.remove_members(conn, row["id"], [c["id"] for c in found])
    return {"removed": removed, "notInList": len(found) - removed, "errors": errors}


async def resolve_list(db: Database, project_id: str, name_or_id: str) -> dict:
    """A list or segment of the project by its id, else by its name (refused when two share it)."""
    found = await list_lists(db, project_id, None)
    by_id = [row for row in found if row["id"] == name_or_id]
    named = by_id or [row for row in found if row["name"] == name_or_id]
    if len(named) > 1:
        raise InvalidInput.field("list", f"{len(named)} lists are named {name_or_id!r}: pass the id")
    if not named:
        raise NotFound(f"List or segment {name_or_id!r} not found (by name or by id)", code="LIST_NOT_FOUND")
    return named[0]
