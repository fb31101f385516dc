"""/v1/contacts: create, upsert by email, get, delete, search, bulk update, remove, unsubscribe groups.

/contacts/remove and /contacts/search/emails take `{"emails": [...]}` or a bare JSON array of
emails (a published SDK sends the latter), so they read the raw body.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import Request
from pydantic import Field

from sendhouse.api.deps import Db, ProjectId
from sendhouse.api.envelope import ok
from sendhouse.api.json_body import JsonRoute
from sendhouse.api.models import RequestModel
from sendhouse.api.routing import PrefixRouter
from sendhouse.errors import InvalidInput
from sendhouse.services import contacts as service

router = PrefixRouter(prefix="/v1/contacts", tags=["contacts"], route_class=JsonRoute)


class ContactBody(RequestModel):
    email: str
    firstName: str | None = None
    lastName: str | None = None
    userId: str | None = None
    mobile: str | None = None
    listIds: list[str] | None = None
    customFields: dict[str, Any] | None = None


class DuplicateBody(RequestModel):
    sourceEmail: str = Field(min_length=1, max_length=320)
    newEmail: str = Field(min_length=1, max_length=320)


class BulkUpdateBody(RequestModel):
    contacts: list[Any]
    runWorkflow: bool | None = None


async def _json_of(request: Request, expected: str = "a JSON object") -> Any:
    try:
        return orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        raise InvalidInput.field("body", f"must be {expected}") from None


async def _emails_of(request: Request) -> Any:
    """The emails of a body that is {"emails": [...]} or a bare array."""
    body = await _json_of(request, 'JSON: {"emails": [...]} or an array of emails')
    if isinstance(body, dict):
        return body.get("emails")
    return body


@router.post("")
async def create_contact(body: ContactBody, project_id: ProjectId, db: Db):
    contact = await service.create_contact(db, project_id, body.model_dump(exclude_unset=True))
    return ok(contact, message="Contact created successfully")


@router.post("/email")
async def upsert_contact(body: ContactBody, project_id: ProjectId, db: Db):
    contact = await service.upsert_contact(db, project_id, body.model_dump(exclude_unset=True))
    return ok(contact, message="Contact upserted successfully")


@router.post("/search/emails")
async def search_by_emails(request: Request, project_id: ProjectId, db: Db):
    found = await service.search_by_emails(db, project_id, await _emails_of(request))
    return ok({"contacts": found})


@router.post("/bulk-update")
async def bulk_update(body: BulkUpdateBody, project_id: ProjectId, db: Db):
    result = await service.bulk_update(db, project_id, body.contacts, run_workflow=body.runWorkflow)
    return ok(result, message="Contacts processed")


@router.post("/remove")
async def remove_contacts(request: Request, project_id: ProjectId, db: Db):
    removed = await service.remove_by_emails(db, project_id, await _emails_of(request))
    return ok({"removedIds": removed, "removedCount": len(removed)}, message="Contacts removed successfully")


@router.post("/email/duplicate", status_code=201)
async def duplicate_contact(body: DuplicateBody, project_id: ProjectId, db: Db):
    data = await service.duplicate_contact(db, project_id, body.sourceEmail, body.newEmail)
    return ok(data, message="Contact duplicated successfully", status=201)


FIELDS_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "additionalProperties": True,
                    "minProperties": 1,
                    "description": "custom fields to set (null removes one); others stay as they are",
                }
            }
        },
    }
}


@router.patch("/email/{email}/custom-fields", openapi_extra=FIELDS_BODY)
async def update_custom_fields(email: str, request: Request, project_id: ProjectId, db: Db):
    """The body is the custom fields object itself (AutoSend's OpenAPI), or {"customFields": {...}}."""
    fields = await _json_of(request)
    if isinstance(fields, dict) and set(fields) == {"customFields"}:
        fields = fields["customFields"]
    contact = await service.update_custom_fields(db, project_id, email, fields)
    return ok(contact, message="Custom fields updated successfully")


@router.delete("/email/userId/{user_id}")
async def delete_by_user_id(user_id: str, project_id: ProjectId, db: Db):
    await service.delete_by_user_id(db, project_id, user_id)
    return ok(message="Contact deleted successfully")


@router.get("/{contact_id}")
async def get_contact(contact_id: str, project_id: ProjectId, db: Db):
    return ok(await service.get_contact(db, project_id, contact_id))


@router.delete("/{contact_id}")
async def delete_contact(contact_id: str, project_id: ProjectId, db: Db):
    await service.delete_contact(db, project_id, contact_id)
    return ok(message="Contact deleted successfully")


@router.get("/{contact_id}/unsubscribe-groups")
async def unsubscribe_groups(contact_id: str, project_id: ProjectId, db: Db):
    return ok({"groups": await service.unsubscribe_groups(db, project_id, contact_id)})
