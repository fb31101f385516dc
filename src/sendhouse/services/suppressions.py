"""Suppression groups and suppressed addresses: the use cases behind /v1/suppression-groups.

Also the two calls other parts rely on: `suppress` (unsubscribes, bounces and complaints land
here, idempotently) and `is_suppressed` (the global group, plus the mail's own group if any).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from sendhouse.domain import ids
from sendhouse.domain.emails import key_of, keys
from sendhouse.domain.pagination import Page
from sendhouse.domain.times import iso, utcnow
from sendhouse.errors import InvalidInput, InvalidOperation, NotFound
from sendhouse.store import suppressions as store
from sendhouse.store.db import Database

REASONS = ("UNSUBSCRIBE", "BOUNCE", "COMPLAINT", "MANUAL")
MAX_EMAILS = 1000  # addresses in one suppress or unsuppress call
GLOBAL_GROUP_NAME = "Global"
DEFAULT_GROUP_NAME = "Default"
MAX_CODE_ATTEMPTS = 8


def present_group(row: dict) -> dict:
    """AutoSend's suppression group object."""
    return {
        "id": row["id"],
        "groupId": row["group_code"],
        "name": row["name"],
        "description": row["description"],
        "isGlobal": bool(row["is_global"]),
        "isActive": bool(row["is_active"]),
        "isDefault": bool(row.get("is_default")),
        "suppressionCount": row.get("suppression_count", 0),
        "createdAt": iso(row["created_at"]),
        "updatedAt": iso(row["updated_at"]),
    }


def present_entry(row: dict) -> dict:
    return {
        "id": row["id"],
        "email": row["email"],
        "groupId": row["group_code"],
        "reason": row["reason"],
        "createdAt": iso(row["created_at"]),
        "updatedAt": iso(row["updated_at"]),
    }


def present_group_brief(row: dict) -> dict:
    """The group as listed for one address (POST /suppression-groups/email/entries)."""
    return {
        "id": row["group_code"],
        "name": row["name"],
        "description": row["description"],
        "isActive": bool(row["is_active"]),
        "isGlobal": bool(row["is_global"]),
    }


async def _insert_group(
    conn: AsyncConnection,
    project_id: str,
    *,
    name: str,
    description: str | None,
    is_active: bool,
    is_global: bool,
    is_default: bool = False,
) -> dict:
    now = utcnow()
    for _ in range(MAX_CODE_ATTEMPTS):
        code = ids.new_group_code()
        if await store.get_group(conn, project_id, code) is None:
            break
    row = {
        "id": ids.new_id(),
        "project_id": project_id,
        "group_code": code,
        "name": name,
        "description": description,
        "is_global": is_global,
        "is_active": is_active,
        "is_default": is_default,
        "created_at": now,
        "updated_at": now,
    }
    await store.insert_group(conn, row)
    return {**row, "suppression_count": 0}


async def create_global_group(conn: AsyncConnection, project_row: dict) -> dict:
    """The global group a new project starts with (called inside the project's creating transaction)."""
    return await _insert_group(
        conn,
        project_row["id"],
        name=GLOBAL_GROUP_NAME,
        is_active=True,
        is_global=True,
        description="Addresses that never receive mail from this project",
    )


async def create_default_group(conn: AsyncConnection, project_row: dict) -> dict:
    """The default (non-global) group a new project starts with: suppressions without a groupId."""
    return await _insert_group(
        conn,
        project_row["id"],
        name=DEFAULT_GROUP_NAME,
        is_active=True,
        is_global=False,
        is_default=True,
        description="Suppressions and unsubscribes without a named group",
    )


async def _global(conn: AsyncConnection, project_id: str) -> dict:
    found = await store.global_group(conn, project_id)
    if found is None:  # a project made before global groups existed
        found = await create_global_group(conn, {"id": project_id})
    return found


async def _default(conn: AsyncConnection, project_id: str) -> dict:
    found = await store.default_group(conn, project_id)
    if found is None:  # a project made before default groups existed
        found = await create_default_group(conn, {"id": project_id})
    return found


async def _group(conn: AsyncConnection, project_id: str, code: str) -> dict:
    found = await store.get_group(conn, project_id, code)
    if found is None:
        raise NotFound("Suppression group not found", code="GROUP_NOT_FOUND")
    return found


async def list_groups(
    db: Database, project_id: str, *, only_global: bool = False, include_global: bool = True
) -> list[dict]:
    async with db.write() as conn:
        await _global(conn, project_id)
        await _default(conn, project_id)
        return await store.list_groups(
            conn, project_id, only_global=only_global, include_global=include_global
        )


def _clean_name(name: str) -> str:
    if not name.strip():
        raise InvalidInput.field("name", "name must not be blank")
    return name.strip()


async def create_group(
    db: Database, project_id: str, *, name: str, description: str | None, is_active: bool
) -> dict:
    name = _clean_name(name)
    async with db.write() as conn:
        return await _insert_group(
            conn, project_id, name=name, description=description, is_active=is_active, is_global=False
        )


async def get_group(db: Database, project_id: str, code: str) -> dict:
    async with db.read() as conn:
        return await _group(conn, project_id, code)


async def update_group(db: Database, project_id: str, code: str, changes: dict) -> dict:
    """Change name, description or isActive; the global group cannot be switched off."""
    if "name" in changes:
        changes = {**changes, "name": _clean_name(changes["name"])}
    async with db.write() as conn:
        group = await _group(conn, project_id, code)
        if group["is_global"] and changes.get("is_active") is False:
            raise InvalidOperation(
                "The global group cannot be deactivated", code="CANNOT_DEACTIVATE_GLOBAL_GROUP"
            )
        if changes:
            await store.update_group(conn, project_id, code, {**changes, "updated_at": utcnow()})
        return await _group(conn, project_id, code)


async def delete_group(db: Database, project_id: str, code: str) -> None:
    async with db.write() as conn:
        if await store.delete_group(conn, project_id, code):
            return
        group = await _group(conn, project_id, code)
        if group["is_global"]:
            raise InvalidOperation(
                "The global suppression group cannot be deleted", code="CANNOT_DELETE_GLOBAL_GROUP"
            )
        if group["is_default"]:
            raise InvalidOperation(
                "The default suppression group cannot be deleted", code="CANNOT_DELETE_DEFAULT_GROUP"
            )


@dataclass(frozen=True)
class EntryQuery:
    """The entries search as the API gives it (group by its short code)."""

    group_code: str | None = None
    reason: str | None = None
    search: str | None = None
    email: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    is_global: bool | None = None


async def search_entries(
    db: Database, project_id: str, query: EntryQuery, page: Page
) -> tuple[list[dict], int]:
    async with db.read() as conn:
        group_id = (await _group(conn, project_id, query.group_code))["id"] if query.group_code else None
        filters = store.EntryFilters(
            group_id=group_id,
            reason=query.reason,
            search=query.search,
            is_global=query.is_global,
            email=key_of(query.email) if query.email else None,
            start=query.start,
            end=query.end,
        )
        return await store.search_entries(conn, project_id, filters, page)


MAX_ALL_ENTRIES = 10_000
# The deprecated /entries/all documented lower-case reasons; both spellings are accepted there.
LEGACY_REASONS = {
    "unsubscribed": "UNSUBSCRIBE",
    "bounced": "BOUNCE",
    "spam_complaint": "COMPLAINT",
    "manual": "MANUAL",
}


def reason_of(value: str | None) -> str | None:
    """AutoSend's reason (UNSUBSCRIBE|BOUNCE|COMPLAINT|MANUAL) from either spelling, else InvalidInput."""
    if value is None or value in REASONS:
        return value
    if value.lower() in LEGACY_REASONS:
        return LEGACY_REASONS[value.lower()]
    allowed = ", ".join([*REASONS, *LEGACY_REASONS])
    raise InvalidInput.field("reason", f"must be one of {allowed}")


async def all_entries(db: Database, project_id: str, query: EntryQuery) -> list[dict]:
    """Every matching entry, newest first, without pages (the deprecated /entries/all); a filter
    matching more than MAX_ALL_ENTRIES is refused rather than cut short."""
    entries, total = await search_entries(db, project_id, query, Page(1, MAX_ALL_ENTRIES))
    if total > MAX_ALL_ENTRIES:
        raise InvalidOperation(
            f"{total} entries match; narrow the filters or page with /suppression-groups/entries",
            code="TOO_MANY_ENTRIES",
        )
    return entries


async def suppress_emails(
    db: Database, project_id: str, emails: list[str], *, group_code: str | None, reason: str, is_global: bool
) -> int:
    """Suppress addresses in a group: the global group with isGlobal, else the named group, else the
    project's default (non-global) group, as AutoSend does; return how many."""
    cleaned = keys(emails, "emails", most=MAX_EMAILS)
    async with db.write() as conn:
        group = await _target_group(conn, project_id, group_code, is_global)
        await _upsert(conn, project_id, group["id"], cleaned, reason=reason, source_message_id=None)
    return len(cleaned)


async def _target_group(
    conn: AsyncConnection, project_id: str, group_code: str | None, is_global: bool
) -> dict:
    if is_global:
        return await _global(conn, project_id)
    return await _group(conn, project_id, group_code) if group_code else await _default(conn, project_id)


async def unsuppress_emails(
    db: Database, project_id: str, emails: list[str], *, group_code: str | None, is_global: bool
) -> int:
    """Lift suppressions from one group, the global group (isGlobal) or every group; return rows removed."""
    cleaned = list(dict.fromkeys(key_of(e) for e in emails))
    async with db.write() as conn:
        group_ids: list[str] | None = None  # every group
        if is_global:
            group_ids = [(await _global(conn, project_id))["id"]]
        elif group_code:
            group_ids = [(await _group(conn, project_id, group_code))["id"]]
        return await store.delete_entries(conn, project_id, cleaned, group_ids)


async def groups_of_email(db: Database, project_id: str, email: str) -> list[dict]:
    async with db.read() as conn:
        return await store.groups_of_email(conn, project_id, key_of(email))


async def _upsert(
    conn: AsyncConnection,
    project_id: str,
    group_id: str,
    emails: list[str],
    *,
    reason: str,
    source_message_id: str | None,
) -> None:
    now = utcnow()
    rows = [
        {
            "id": ids.new_id(),
            "project_id": project_id,
            "group_id": group_id,
            "email": email,
            "reason": reason,
            "source_message_id": source_message_id,
            "created_at": now,
            "updated_at": now,
        }
        for email in emails
    ]
    await store.upsert_entries(conn, rows)


async def suppress(
    conn: AsyncConnection,
    project_id: str,
    email: str,
    *,
    reason: str,
    group_code: str | None = None,
    source_message_id: str | None = None,
) -> None:
    """Suppress one address (global group when group_code is None), inside the caller's transaction.

    Idempotent: suppressing an address again only refreshes its reason and time.
    """
    if reason not in REASONS:
        raise InvalidInput.field("reason", f"must be one of {', '.join(REASONS)}")
    group = (
        await _global(conn, project_id) if group_code is None else await _group(conn, project_id, group_code)
    )
    await _upsert(
        conn, project_id, group["id"], [key_of(email)], reason=reason, source_message_id=source_message_id
    )


async def is_suppressed(
    conn: AsyncConnection, project_id: str, email: str, group_code: str | None = None
) -> bool:
    """Whether an address is suppressed globally or in the given group."""
    return await store.is_suppressed(conn, project_id, key_of(email), group_code)
