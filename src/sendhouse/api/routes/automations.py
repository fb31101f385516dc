"""/v1/automations: create, list, get, update, delete, pause and resume (reference §2)."""

from __future__ import annotations

from typing import Any

from sendhouse.api.deps import Db, ProjectId
from sendhouse.api.envelope import ok
from sendhouse.api.models import RequestModel
from sendhouse.api.routing import PrefixRouter
from sendhouse.services import automations as service

router = PrefixRouter(prefix="/v1/automations", tags=["automations"])


class AutomationBody(RequestModel):
    name: str | None = None
    description: str | None = None
    entryCriteria: dict[str, Any] | None = None
    exitCriteria: dict[str, Any] | None = None
    steps: list[Any] | None = None
    tags: list[str] | None = None
    unsubscribeGroupId: str | None = None
    trackingOpen: bool | None = None
    trackingClick: bool | None = None
    active: bool | None = None


@router.get("")
async def list_automations(
    project_id: ProjectId,
    db: Db,
    status: str | None = None,
    tags: str | None = None,
    page: int = 1,
    limit: int = 50,
):
    return ok(
        await service.list_automations(db, project_id, status=status, tags=tags, page=page, limit=limit)
    )


@router.post("", status_code=201)
async def create_automation(body: AutomationBody, project_id: ProjectId, db: Db):
    created = await service.create_automation(db, project_id, body.model_dump(exclude_unset=True))
    return ok(created, message="Workflow automation created successfully", status=201)


@router.get("/{automation_id}")
async def get_automation(automation_id: str, project_id: ProjectId, db: Db):
    return ok(await service.get_automation(db, project_id, automation_id))


@router.patch("/{automation_id}")
async def update_automation(automation_id: str, body: AutomationBody, project_id: ProjectId, db: Db):
    updated = await service.update_automation(
        db, project_id, automation_id, body.model_dump(exclude_unset=True)
    )
    return ok(updated, message="Workflow automation updated successfully")


@router.delete("/{automation_id}")
async def delete_automation(automation_id: str, project_id: ProjectId, db: Db):
    await service.delete_automation(db, project_id, automation_id)
    return ok(message="Workflow automation deleted successfully")


@router.post("/{automation_id}/pause")
async def pause_automation(automation_id: str, project_id: ProjectId, db: Db):
    return ok(
        await service.pause_automation(db, project_id, automation_id), message="Workflow automation paused"
    )


@router.post("/{automation_id}/resume")
async def resume_automation(automation_id: str, project_id: ProjectId, db: Db):
    return ok(
        await service.resume_automation(db, project_id, automation_id), message="Workflow automation resumed"
    )
