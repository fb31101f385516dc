"""/v1/suppression-groups: groups by their short code, the entries search, suppress and unsuppress."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from sendhouse.api.deps import Db, ProjectId
from sendhouse.api.envelope import ok
from sendhouse.api.json_body import JsonRoute
from sendhouse.api.models import RequestModel
from sendhouse.api.routing import PrefixRouter
from sendhouse.domain.pagination import Page
from sendhouse.domain.times import parse_iso
from sendhouse.services import suppressions as service

router = PrefixRouter(prefix="/v1/suppression-groups", tags=["suppression-groups"], route_class=JsonRoute)

Reason = Literal["UNSUBSCRIBE", "BOUNCE", "COMPLAINT", "MANUAL"]


class GroupCreate(RequestModel):
    name: str = Field(min_length=1, max_length=200)
    description: str | None = Field(None, max_length=500)
    isActive: bool = True


class GroupUpdate(RequestModel):
    name: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = Field(None, max_length=500)
    isActive: bool | None = None


class EntrySearch(RequestModel):
    groupId: str | None = Field(None, max_length=12)
    reason: Reason | None = None
    page: int = Field(1, ge=1, le=1_000_000)
    limit: int = Field(20, ge=1, le=100)
    search: str | None = Field(None, max_length=320)
    email: str | None = Field(None, max_length=320)
    startDate: str | None = None
    endDate: str | None = None
    isGlobal: bool | None = None


class AllEntries(RequestModel):
    """The deprecated /entries/all: the search filters without pages; reasons in either spelling."""

    groupId: str | None = Field(None, max_length=12)
    reason: str | None = Field(None, max_length=20)
    search: str | None = Field(None, max_length=320)
    email: str | None = Field(None, max_length=320)
    startDate: str | None = None
    endDate: str | None = None
    isGlobal: bool | None = None


class Suppress(RequestModel):
    emails: list[str] = Field(min_length=1, max_length=service.MAX_EMAILS)
    groupId: str | None = Field(None, max_length=12)
    reason: Reason = "MANUAL"
    isGlobal: bool = False


class Unsuppress(RequestModel):
    emails: list[str] = Field(min_length=1, max_length=service.MAX_EMAILS)
    groupId: str | None = Field(None, max_length=12)
    isGlobal: bool = False


class EmailLookup(RequestModel):
    email: str = Field(min_length=1, max_length=320)


@router.get("")
async def list_groups(project_id: ProjectId, db: Db, onlyGlobal: bool = False, includeGlobal: bool = True):
    rows = await service.list_groups(db, project_id, only_global=onlyGlobal, include_global=includeGlobal)
    return ok({"groups": [service.present_group(r) for r in rows]})


@router.post("")
async def create_group(body: GroupCreate, project_id: ProjectId, db: Db):
    """200, as AutoSend answers (not 201)."""
    row = await service.create_group(
        db, project_id, name=body.name, description=body.description, is_active=body.isActive
    )
    return ok(service.present_group(row), message="Suppression group created successfully")


@router.post("/entries")
async def search_entries(body: EntrySearch, project_id: ProjectId, db: Db):
    query = service.EntryQuery(
        group_code=body.groupId,
        reason=body.reason,
        search=body.search,
        email=body.email,
        is_global=body.isGlobal,
        start=parse_iso(body.startDate, field="startDate") if body.startDate else None,
        end=parse_iso(body.endDate, field="endDate") if body.endDate else None,
    )
    page = Page(body.page, body.limit)
    rows, total = await service.search_entries(db, project_id, query, page)
    return ok({"entries": [service.present_entry(r) for r in rows], "pagination": page.describe(total)})


@router.post("/entries/all")
async def all_entries(body: AllEntries, project_id: ProjectId, db: Db):
    query = service.EntryQuery(
        group_code=body.groupId,
        reason=service.reason_of(body.reason),
        search=body.search,
        email=body.email,
        is_global=body.isGlobal,
        start=parse_iso(body.startDate, field="startDate") if body.startDate else None,
        end=parse_iso(body.endDate, field="endDate") if body.endDate else None,
    )
    rows = await service.all_entries(db, project_id, query)
    return ok([service.present_entry(r) for r in rows])


@router.post("/emails/suppress")
async def suppress(body: Suppress, project_id: ProjectId, db: Db):
    count = await service.suppress_emails(
        db, project_id, body.emails, group_code=body.groupId, reason=body.reason, is_global=body.isGlobal
    )
    return ok({"suppressed": count}, message="Emails suppressed successfully")


@router.post("/emails/unsuppress")
async def unsuppress(body: Unsuppress, project_id: ProjectId, db: Db):
    count = await service.unsuppress_emails(
        db, project_id, body.emails, group_code=body.groupId, is_global=body.isGlobal
    )
    return ok({"unsuppressed": count}, message="Emails unsuppressed successfully")


@router.post("/email/entries")
async def groups_of_email(body: EmailLookup, project_id: ProjectId, db: Db):
    rows = await service.groups_of_email(db, project_id, body.email)
    return ok([service.present_group_brief(r) for r in rows])


@router.get("/{group_id}")
async def get_group(group_id: str, project_id: ProjectId, db: Db):
    return ok(service.present_group(await service.get_group(db, project_id, group_id)))


@router.put("/{group_id}")
async def update_group(group_id: str, body: GroupUpdate, project_id: ProjectId, db: Db):
    changes = {"name": body.name, "is_active": body.isActive}
    changes = {k: v for k, v in changes.items() if v is not None}
    if "description" in body.model_fields_set:
        changes["description"] = body.description
    row = await service.update_group(db, project_id, group_id, changes)
    return ok(service.present_group(row), message="Suppression group updated successfully")


@router.delete("/{group_id}")
async def delete_group(group_id: str, project_id: ProjectId, db: Db):
    await service.delete_group(db, project_id, group_id)
    return ok(message="Suppression group deleted successfully")
