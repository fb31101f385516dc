"""Template use cases: create, change, list, search and soft-delete AutoSend templates.

Callers pass AutoSend's field names (templateName, emailTemplate, ...); every template's syntax
is checked when it is saved, so a broken `{{#if}}` is reported with its line and column then,
not when a campaign renders it.
"""

from __future__ import annotations

from typing import Any

from sendhouse.domain import ids
from sendhouse.domain.filters import TemplateFilter
from sendhouse.domain.pagination import Page
from sendhouse.domain.templating import compile_template
from sendhouse.domain.times import iso, utcnow
from sendhouse.domain.urls import link_problems
from sendhouse.errors import InvalidInput, InvalidOperation, NotFound
from sendhouse.store import senders as sender_store
from sendhouse.store import templates as store
from sendhouse.store.db import Database

TEMPLATE_TYPES = ("transactional", "marketing", "automation")
BUILDER_TYPES = ("code", "visual")
# AutoSend field -> column (builderType is only settable at creation)
COLUMNS = {
    "templateName": "name",
    "subject": "subject",
    "description": "description",
    "previewText": "preview_text",
    "emailTemplate": "html",
    "plainTextTemplate": "plain_text",
    "templateType": "template_type",
    "dynamicVariables": "dynamic_variables",
    "senderId": "sender_id",
}
CHECKED_SOURCES = ("subject", "emailTemplate", "plainTextTemplate")


def present_sender(row: dict | None) -> dict | None:
    if row is None:
        return None
    return {
        "id": row["id"],
        "name": row["name"] or "",
        "email": row["email"],
        "replyTo": row["reply_to"] or "",
    }


def present_template(row: dict, sender: dict | None = None) -> dict:
    """AutoSend's template object."""
    return {
        "templateId": row["id"],
        "projectId": row["project_id"],
        "templateName": row["name"],
        "description": row["description"],
        "subject": row["subject"],
        "previewText": row["preview_text"],
        "emailTemplate": row["html"],
        "plainTextTemplate": row["plain_text"],
        "templateType": row["template_type"],
        "builderType": row["builder_type"],
        "dynamicVariables": row["dynamic_variables"] or {},
        "sender": present_sender(sender),
        "createdAt": iso(row["created_at"]),
        "updatedAt": iso(row["updated_at"]),
    }


def check_syntax(fields: dict[str, Any]) -> None:
    """Compile every template source being saved; one InvalidInput listing every broken source
    (each with line and column)."""
    found = []
    for name in CHECKED_SOURCES:
        try:
            if fields.get(name):
                compile_template(fields[name], field=name)
        except InvalidInput as exc:
            found += exc.details
    found += link_problems("emailTemplate", fields.get("emailTemplate"))
    if found:
        raise InvalidInput("Validation failed", details=found)


def _columns(fields: dict[str, Any]) -> dict[str, Any]:
    return {COLUMNS[name]: value for name, value in fields.items() if name in COLUMNS}


async def _sender_of(conn, project_id: str, sender_id: str | None) -> dict | None:
    if sender_id is None:
        return None
    sender = await sender_store.get_sender(conn, project_id, sender_id)
    if sender is None:
        raise InvalidInput.field("senderId", "no authenticated sender with this id in the project")
    return sender


async def create_template(db: Database, project_id: str, fields: dict[str, Any]) -> dict:
    """Save a new template (templateName and subject required; see the router for the bounds)."""
    for required in ("templateName", "subject"):
        if not fields.get(required):
            raise InvalidInput.field(required, f"{required} is required")
    check_syntax(fields)
    now = utcnow()
    row = {
        "template_type": "transactional",
        "builder_type": fields.get("builderType") or "code",
        **_columns(fields),
        "id": ids.new_template_id(),
        "project_id": project_id,
        "created_at": now,
        "updated_at": now,
    }
    async with db.write() as conn:
        sender = await _sender_of(conn, project_id, row.get("sender_id"))
        await store.insert_template(conn, row)
        saved = await store.get_template(conn, project_id, row["id"])
    assert saved is not None  # inserted just above
    return present_template(saved, sender)


async def update_template(db: Database, project_id: str, template_id: str, fields: dict[str, Any]) -> dict:
    """Change the given fields of a live template (null clears an optional one)."""
    check_syntax(fields)
    values = {**_columns(fields), "updated_at": utcnow()}
    async with db.write() as conn:
        await _sender_of(conn, project_id, values.get("sender_id"))
        row = await store.update_template(conn, project_id, template_id, values)
        if row is None:
            raise _not_found()
        sender = await _sender_of(conn, project_id, row["sender_id"]) if row["sender_id"] else None
    return present_template(row, sender)


def _not_found() -> NotFound:
    return NotFound("Template not found", code="TEMPLATE_NOT_FOUND")


async def get_template(db: Database, project_id: str, template_id: str) -> dict:
    async with db.read() as conn:
        row = await store.get_template(conn, project_id, template_id)
        if row is None:
            raise _not_found()
        senders = await sender_store.senders_by_id(conn, project_id, {row["sender_id"]} - {None})
    return present_template(row, senders.get(row["sender_id"]))


async def _present_all(conn, project_id: str, rows: list[dict]) -> list[dict]:
    senders = await sender_store.senders_by_id(conn, project_id, {r["sender_id"] for r in rows} - {None})
    return [present_template(r, senders.get(r["sender_id"])) for r in rows]


async def list_templates(
    db: Database, project_id: str, *, template_type: str | None = None, limit: int = 100
) -> list[dict]:
    """The newest templates (AutoSend's list is not paginated: `limit` only)."""
    async with db.read() as conn:
        rows = await store.list_templates(conn, project_id, template_type=template_type, limit=limit)
        return await _present_all(conn, project_id, rows)


async def search_templates(
    db: Database,
    project_id: str,
    f: TemplateFilter,
    page: Page,
    *,
    sort_by: str = "createdAt",
    descending: bool = True,
) -> dict:
    """`{templates, pagination}` of the templates matching the filter."""
    async with db.read() as conn:
        rows, total = await store.search_templates(
            conn, project_id, f, sort_by=sort_by, descending=descending, offset=page.offset, limit=page.limit
        )
        return {"templates": await _present_all(conn, project_id, rows), "pagination": page.describe(total)}


async def delete_template(db: Database, project_id: str, template_id: str) -> None:
    """Soft-delete a template; AutoSend answers 400 DELETE_TEMPLATE_FAILED when there is none."""
    async with db.write() as conn:
        if not await store.soft_delete_template(conn, project_id, template_id, utcnow()):
            raise InvalidOperation(
                "Failed to delete template: template not found", code="DELETE_TEMPLATE_FAILED"
            )
