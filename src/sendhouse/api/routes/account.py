"""/v1/account/projects: the account-level projects API (account keys only)."""

from __future__ import annotations

from pydantic import Field

from sendhouse.api.deps import CurrentPrincipal, Db
from sendhouse.api.envelope import ok
from sendhouse.api.json_body import JsonRoute
from sendhouse.api.models import RequestModel
from sendhouse.api.routing import PrefixRouter
from sendhouse.domain.regions import RegionKey
from sendhouse.services import projects as service

router = PrefixRouter(prefix="/v1/account/projects", tags=["projects"], route_class=JsonRoute)


class ProjectCreate(RequestModel):
    name: str = Field(min_length=1, max_length=100)
    domain: str | None = Field(None, max_length=253)
    regionKey: RegionKey | None = None


@router.get("")
async def list_projects(principal: CurrentPrincipal, db: Db):
    service.require_account(principal)
    rows = await service.list_projects(db, principal)
    return ok({"projects": [service.present_project(r) for r in rows]})


@router.post("", status_code=201)  # AutoSend answers 201 here
async def create_project(body: ProjectCreate, principal: CurrentPrincipal, db: Db):
    service.require_account(principal)
    row = await service.create_project(
        db,
        name=body.name,
        domain=body.domain,
        region_key=body.regionKey,
        organization_id=principal.organization_id,
    )
    return ok(service.present_project(row), message="Project created successfully", status=201)


@router.get("/{project_id}")
async def get_project(project_id: str, principal: CurrentPrincipal, db: Db):
    service.require_account(principal)
    return ok(service.present_project(await service.get_project(db, principal, project_id)))


@router.delete("/{project_id}")
async def delete_project(project_id: str, principal: CurrentPrincipal, db: Db):
    service.require_account(principal)
    await service.delete_project(db, principal, project_id)
    return ok(message="Project deleted successfully")
