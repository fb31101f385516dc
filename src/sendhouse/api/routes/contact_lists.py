"""/v1/contact-lists: lists and segments, their contacts, bulk add and remove."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from sendhouse.api.deps import Db, ProjectId
from sendhouse.api.envelope import ok
from sendhouse.api.json_body import JsonRoute
from sendhouse.api.models import RequestModel
from sendhouse.api.routing import PrefixRouter
from sendhouse.domain.pagination import Page
from sendhouse.errors import InvalidInput
from sendhouse.services import lists as service

router = PrefixRouter(prefix="/v1/contact-lists", tags=["contact-lists"], route_class=JsonRoute)

MAX_BULK = 500
Id = Field(min_length=1, max_length=64)


class ListCreate(RequestModel):
    name: str = Field(min_length=1, max_length=200)
    description: str | None = Field(None, max_length=500)
    type: Literal["list", "segment"] = "list"
    filterCriteria: dict[str, Any] | None = None
    parentId: str | None = Field(None, max_length=64)


class MemberSearch(RequestModel):
    contactListId: str = Id
    page: int = Field(1, ge=1, le=1_000_000)
    limit: int = Field(20, ge=1, le=100)
    email: str | None = Field(None, max_length=320)


class ContactRefs(RequestModel):
    emails: list[str] | None = Field(None, max_length=MAX_BULK)
    contactIds: list[str] | None = Field(None, max_length=MAX_BULK)

    def one_of(self) -> tuple[list[str], list[str]]:
        """(emails, contactIds) with exactly one of them non-empty."""
        if bool(self.emails) == bool(self.contactIds):
            raise InvalidInput.field("emails", "give either emails or contactIds (1 to 500 items)")
        return self.emails or [], self.contactIds or []


class BulkAdd(ContactRefs):
    contactListId: str = Id


@router.get("")
async def list_lists(project_id: ProjectId, db: Db, type: Literal["list", "segment"] | None = None):
    return ok({"lists": await service.list_lists(db, project_id, type)})


@router.post("")
async def create_list(body: ListCreate, project_id: ProjectId, db: Db):
    """200, as AutoSend answers (not 201)."""
    new = service.NewList(body.name, body.description, body.type, body.filterCriteria, body.parentId)
    created = await service.create_list(db, project_id, new)
    return ok(created, message="Contact list created successfully")


@router.post("/contacts/search")
async def search_contacts(body: MemberSearch, project_id: ProjectId, db: Db):
    page = Page(body.page, body.limit)
    found, total = await service.search_contacts(db, project_id, body.contactListId, body.email, page)
    return ok({"contacts": found, "pagination": page.describe(total)})


@router.post("/contacts/bulk-add")
async def bulk_add(body: BulkAdd, project_id: ProjectId, db: Db):
    emails, contact_ids = body.one_of()
    result = await service.bulk_add(
        db, project_id, body.contactListId, emails=emails, contact_ids=contact_ids
    )
    return ok(result, message="Contacts added to list")


@router.post("/{list_id}/contacts/remove")
async def remove_contacts(list_id: str, body: ContactRefs, project_id: ProjectId, db: Db):
    emails, contact_ids = body.one_of()
    result = await service.remove_contacts(db, project_id, list_id, emails=emails, contact_ids=contact_ids)
    return ok(result, message="Contacts removed from list")


@router.get("/{list_id}")
async def get_list(list_id: str, project_id: ProjectId, db: Db):
    return ok(await service.get_list(db, project_id, list_id))


@router.delete("/{list_id}")
async def delete_list(list_id: str, project_id: ProjectId, db: Db):
    deleted = await service.delete_list(db, project_id, list_id)
    return ok(deleted, message="Contact list deleted successfully")
