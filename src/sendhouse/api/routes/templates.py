"""/v1/templates: AutoSend's templates API (list, search, get, create, update, preview text, delete)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Query
from pydantic import Field

from sendhouse.api.deps import Db, ProjectId
from sendhouse.api.envelope import ok
from sendhouse.api.json_body import JsonRoute
from sendhouse.api.models import RequestModel
from sendhouse.api.routing import PrefixRouter
from sendhouse.domain.filters import TemplateFilter
from sendhouse.domain.pagination import Page
from sendhouse.errors import InvalidInput
from sendhouse.services import templates as service

router = PrefixRouter(prefix="/v1/templates", tags=["templates"], route_class=JsonRoute)

TemplateType = Literal["transactional", "marketing", "automation"]
Name = Annotated[str, Field(min_length=1, max_length=90)]
Subject = Annotated[str, Field(min_length=1, max_length=988)]
Short = Annotated[str, Field(max_length=140)]


class TemplateUpdate(RequestModel):
    templateName: Name | None = None
    subject: Subject | None = None
    description: Short | None = None
    previewText: Short | None = None
    emailTemplate: str | None = None
    plainTextTemplate: str | None = None
    templateType: TemplateType | None = None
    dynamicVariables: dict[str, str] | None = None
    senderId: str | None = None


class TemplateCreate(TemplateUpdate):
    templateName: Name
    subject: Subject
    builderType: Literal["code", "visual"] = "code"


class PreviewText(RequestModel):
    previewText: Short


def _fields(body: RequestModel) -> dict:
    """The fields the caller sent; null only clears the optional ones."""
    fields = body.model_dump(exclude_unset=True)
    for required in ("templateName", "subject", "templateType"):
        if required in fields and fields[required] is None:
            raise InvalidInput.field(required, f"{required} cannot be null")
    return fields


@router.get("")
async def list_templates(
    project_id: ProjectId,
    db: Db,
    templateType: TemplateType | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 100,
):
    rows = await service.list_templates(db, project_id, template_type=templateType, limit=limit)
    return ok({"templates": rows})


@router.get("/search")
async def search_templates(
    project_id: ProjectId,
    db: Db,
    query: str | None = None,
    templateType: TemplateType | None = None,
    templateName: str | None = None,
    subject: str | None = None,
    templateId: str | None = None,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    sortBy: Literal["createdAt", "updatedAt", "templateName"] = "createdAt",
    sortOrder: Literal["asc", "desc"] = "desc",
):
    f = TemplateFilter(query, templateType, templateName, subject, templateId)
    data = await service.search_templates(
        db, project_id, f, Page(page, limit), sort_by=sortBy, descending=sortOrder == "desc"
    )
    return ok(data)


@router.get("/{template_id}")
async def get_template(template_id: str, project_id: ProjectId, db: Db):
    return ok(await service.get_template(db, project_id, template_id))


@router.post("")
async def create_template(body: TemplateCreate, project_id: ProjectId, db: Db):
    template = await service.create_template(
        db, project_id, _fields(body) | {"builderType": body.builderType}
    )
    return ok(template, message="Template created successfully")


@router.put("/{template_id}")
async def update_template(template_id: str, body: TemplateUpdate, project_id: ProjectId, db: Db):
    template = await service.update_template(db, project_id, template_id, _fields(body))
    return ok(template, message="Template updated successfully")


@router.patch("/{template_id}/preview-text")
async def update_preview_text(template_id: str, body: PreviewText, project_id: ProjectId, db: Db):
    template = await service.update_template(db, project_id, template_id, {"previewText": body.previewText})
    return ok(template, message="Preview text updated successfully")


@router.delete("/{template_id}")
async def delete_template(template_id: str, project_id: ProjectId, db: Db):
    await service.delete_template(db, project_id, template_id)
    return ok(message="Template successfully deleted.")
