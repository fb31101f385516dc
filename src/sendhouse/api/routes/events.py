"""/v1/events: event definitions and /events/send (reference §1)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Header, Request

from sendhouse.api.deps import CurrentPrincipal, Db, ProjectId
from sendhouse.api.envelope import ok
from sendhouse.api.models import RequestModel
from sendhouse.api.routing import PrefixRouter
from sendhouse.services import events as service
from sendhouse.services import idempotency

router = PrefixRouter(prefix="/v1/events", tags=["events"])
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key")]


class DefinitionBody(RequestModel):
    eventName: str | None = None
    description: str | None = None
    properties: list[Any] | None = None


class SendBody(RequestModel):
    eventName: str | None = None
    email: str | None = None
    contactId: str | None = None
    eventProperties: dict[str, Any] | None = None


@router.get("")
async def list_definitions(project_id: ProjectId, db: Db):
    return ok(await service.list_definitions(db, project_id))


@router.post("", status_code=201)
async def create_definition(body: DefinitionBody, project_id: ProjectId, db: Db):
    created = await service.create_definition(db, project_id, body.model_dump(exclude_unset=True))
    return ok(created, message="Event created successfully", status=201)


@router.post("/send", status_code=201)
async def send_event(
    body: SendBody,
    request: Request,
    principal: CurrentPrincipal,
    project_id: ProjectId,
    db: Db,
    idempotency_key: IdempotencyKey = None,
):
    async def work(key: idempotency.Key | None) -> dict:
        return await service.send_event(
            db, project_id, body.model_dump(exclude_unset=True), idempotency_record=key
        )

    idem = idempotency.key_for(
        api_key_id=principal.api_key_id,
        project_id=project_id,
        route="POST /v1/events/send",
        key=idempotency_key,
        body=await request.body(),
    )
    outcome = await idempotency.once(db, idem, work)
    response = ok(outcome.data, message="Event sent successfully", status=201)
    response.headers.update(outcome.headers)
    return response


@router.get("/eventName/{event_name}")
async def get_definition(event_name: str, project_id: ProjectId, db: Db):
    return ok(await service.get_definition(db, project_id, event_name))


@router.patch("/eventName/{event_name}")
async def update_definition(event_name: str, body: DefinitionBody, project_id: ProjectId, db: Db):
    updated = await service.update_definition(db, project_id, event_name, body.model_dump(exclude_unset=True))
    return ok(updated, message="Event updated successfully")


@router.delete("/eventName/{event_name}")
async def delete_definition(event_name: str, project_id: ProjectId, db: Db):
    await service.delete_definition(db, project_id, event_name)
    return ok(message="Event deleted successfully")
