"""/v1/domains: sending domains (list, get, add, verify through DNS, delete)."""

from __future__ import annotations

from fastapi import Request
from pydantic import Field

from sendhouse.api.deps import Db, ProjectId, container
from sendhouse.api.envelope import ok
from sendhouse.api.json_body import JsonRoute
from sendhouse.api.models import RequestModel
from sendhouse.api.routing import PrefixRouter
from sendhouse.domain.regions import RegionKey
from sendhouse.services import domains as service

router = PrefixRouter(prefix="/v1/domains", tags=["domains"], route_class=JsonRoute)


class DomainCreate(RequestModel):
    domain: str = Field(min_length=1, max_length=253)
    regionKey: RegionKey | None = None


def _settings(request: Request):
    return container(request).settings


@router.get("")
async def list_domains(request: Request, project_id: ProjectId, db: Db):
    return ok({"domains": await service.list_domains(db, _settings(request), project_id)})


@router.get("/{domain_id}")
async def get_domain(domain_id: str, request: Request, project_id: ProjectId, db: Db):
    return ok(await service.get_domain(db, _settings(request), project_id, domain_id))


@router.post("")
async def add_domain(body: DomainCreate, request: Request, project_id: ProjectId, db: Db):
    domain = await service.add_domain(
        db, _settings(request), project_id, domain=body.domain, region_key=body.regionKey
    )
    return ok(domain, message="Domain added successfully")


@router.post("/{domain_id}/verify")
async def verify_domain(domain_id: str, request: Request, project_id: ProjectId, db: Db):
    data = await service.verify_domain(db, _settings(request), project_id, domain_id)
    return ok(data, message="Domain verification status updated")


@router.delete("/{domain_id}")
async def delete_domain(domain_id: str, project_id: ProjectId, db: Db):
    """AutoSend's message, plus what the deletion did: senders deleted, campaigns paused."""
    result = await service.delete_domain(db, project_id, domain_id)
    return ok(result, message=service.deletion_message(result))
