"""/v1/contact-properties and the deprecated /v1/custom-fields aliases (same data, legacy shape)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from sendhouse.api.deps import Db, ProjectId
from sendhouse.api.envelope import ok
from sendhouse.api.json_body import JsonRoute
from sendhouse.api.models import RequestModel
from sendhouse.errors import InvalidInput
from sendhouse.services import properties as service

router = APIRouter(tags=["contact properties"], route_class=JsonRoute)


class PropertyBody(RequestModel):
    """name/type, or the legacy fieldName/fieldType."""

    name: str | None = None
    type: str | None = None
    fieldName: str | None = None
    fieldType: str | None = None
    description: str | None = None
    defaultValue: Any = None


def _flag(value: str | None, field: str) -> bool:
    if value is None or value.lower() == "true":
        return True
    if value.lower() == "false":
        return False
    raise InvalidInput.field(field, "must be true or false")


async def _create(body: PropertyBody, project_id: str, db, *, legacy: bool) -> dict:
    return await service.create_property(
        db,
        project_id,
        name=body.name if body.name is not None else body.fieldName,
        kind=body.type if body.type is not None else body.fieldType,
        description=body.description,
        default=body.defaultValue,
        legacy=legacy,
    )


@router.get("/v1/contact-properties")
async def list_properties(project_id: ProjectId, db: Db, includeReservedFields: str | None = None):
    include = _flag(includeReservedFields, "includeReservedFields")
    found = await service.list_properties(db, project_id, include_reserved=include)
    return ok({"contactProperties": found}, message="Contact properties retrieved successfully")


@router.post("/v1/contact-properties")
async def create_property(body: PropertyBody, project_id: ProjectId, db: Db):
    row = await _create(body, project_id, db, legacy=False)
    return ok(service.present_property(row), message="Contact property created successfully")


@router.get("/v1/contact-properties/name/{name}")
async def get_property(name: str, project_id: ProjectId, db: Db):
    return ok(service.present_property(await service.get_property(db, project_id, name)))


@router.delete("/v1/contact-properties/name/{name}")
async def delete_property(name: str, project_id: ProjectId, db: Db):
    await service.delete_property(db, project_id, name)
    return ok(message="Contact property deleted successfully")


@router.get("/v1/custom-fields", deprecated=True)
async def list_custom_fields(project_id: ProjectId, db: Db):
    rows = await service.list_property_rows(db, project_id)
    return ok({"customFields": [service.present_custom_field(r) for r in rows]})


@router.post("/v1/custom-fields", deprecated=True)
async def create_custom_field(body: PropertyBody, project_id: ProjectId, db: Db):
    row = await _create(body, project_id, db, legacy=True)
    return ok(service.present_custom_field(row), message="Custom field created successfully")


@router.get("/v1/custom-fields/fieldName/{name}", deprecated=True)
async def get_custom_field(name: str, project_id: ProjectId, db: Db):
    row = await service.get_property(db, project_id, name, legacy=True)
    return ok(service.present_custom_field(row))


@router.delete("/v1/custom-fields/fieldName/{name}", deprecated=True)
async def delete_custom_field(name: str, project_id: ProjectId, db: Db):
    await service.delete_property(db, project_id, name, legacy=True)
    return ok(message="Custom field deleted successfully")
