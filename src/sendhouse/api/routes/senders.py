"""/v1/senders: authenticated senders (list, get, create, delete)."""

from __future__ import annotations

from fastapi import Request
from pydantic import Field

from sendhouse.api.deps import Db, ProjectId, container
from sendhouse.api.envelope import ok
from sendhouse.api.json_body import JsonRoute
from sendhouse.api.models import RequestModel
from sendhouse.api.routing import PrefixRouter
from sendhouse.services import senders as service

router = PrefixRouter(prefix="/v1/senders", tags=["senders"], route_class=JsonRoute)


class SenderCreate(RequestModel):
    email: str = Field(min_length=3, max_length=320)
    name: str | None = Field(None, max_length=200)
    replyTo: str | None = Field(None, max_length=320)


@router.get("")
async def list_senders(project_id: ProjectId, db: Db):
    return ok({"senders": await service.list_senders(db, project_id)})


@router.get("/{sender_id}")
async def get_sender(sender_id: str, project_id: ProjectId, db: Db):
    return ok(await service.get_sender(db, project_id, sender_id))


@router.post("")
async def create_sender(body: SenderCreate, request: Request, project_id: ProjectId, db: Db):
    settings = container(request).settings
    data = await service.create_sender(
        db, settings, project_id, email=body.email, name=body.name, reply_to=body.replyTo
    )
    return ok(data, message="Authenticated sender added successfully")


@router.delete("/{sender_id}")
async def delete_sender(sender_id: str, project_id: ProjectId, db: Db):
    await service.delete_sender(db, project_id, sender_id)
    return ok(message="Authenticated sender deleted successfully")
