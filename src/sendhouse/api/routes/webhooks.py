"""/v1/webhooks: manage webhook endpoints, read their delivery logs, reveal secrets, resend events.

Every input error here is AutoSend's 400 `VALIDATION_ERROR` (the webhooks pages' code), with the
usual `details: [{field, message}]`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import Field

from sendhouse.api.deps import Db, ProjectId
from sendhouse.api.envelope import ok
from sendhouse.api.errors import validation_details
from sendhouse.api.json_body import JsonRoute
from sendhouse.api.models import RequestModel
from sendhouse.api.routing import PrefixRouter
from sendhouse.domain.pagination import Page
from sendhouse.errors import InvalidInput
from sendhouse.services import webhooks as service


class WebhookRoute(JsonRoute):
    """Reports request validation failures with the webhooks' code, VALIDATION_ERROR."""

    def get_route_handler(self) -> Callable:
        handler = super().get_route_handler()

        async def handle(request: Request):
            try:
                return await handler(request)
            except RequestValidationError as exc:
                raise InvalidInput(
                    "Validation failed", code="VALIDATION_ERROR", details=validation_details(exc)
                ) from None

        return handle


router = PrefixRouter(prefix="/v1/webhooks", tags=["webhooks"], route_class=WebhookRoute)

PageNumber = Annotated[int, Query(ge=1, le=1_000_000)]
PageSize = Annotated[int, Query(ge=1, le=100)]


class WebhookCreate(RequestModel):
    url: str = Field(min_length=1, max_length=2048)
    events: list[str] = Field(min_length=1, max_length=64)
    metadata: dict[str, Any] | None = None


class WebhookUpdate(RequestModel):
    url: str | None = Field(None, min_length=1, max_length=2048)
    events: list[str] | None = Field(None, min_length=1, max_length=64)
    isActive: bool | None = None
    secret: Any = Field(None, description="not accepted: secrets cannot be updated")


class WebhookResend(RequestModel):
    event: str = Field(min_length=1, max_length=64)
    data: dict[str, Any]


@router.get("")
async def list_webhooks(
    project_id: ProjectId, db: Db, isActive: bool | None = None, page: PageNumber = 1, limit: PageSize = 50
):
    result = await service.list_webhooks(db, project_id, is_active=isActive, page=Page(page, limit))
    return ok(result)


@router.post("", status_code=201)
async def create_webhook(body: WebhookCreate, project_id: ProjectId, db: Db):
    webhook = await service.create_webhook(
        db, project_id, url=body.url, events=body.events, metadata=body.metadata
    )
    return ok({"webhook": webhook}, message="Webhook created successfully", status=201)


@router.get("/events/available")
async def available_events(project_id: ProjectId):
    return ok({"events": service.available_events()})


@router.get("/{webhook_id}")
async def get_webhook(webhook_id: str, project_id: ProjectId, db: Db):
    return ok({"webhook": await service.get_webhook(db, project_id, webhook_id)})


@router.put("/{webhook_id}")
async def update_webhook(webhook_id: str, body: WebhookUpdate, project_id: ProjectId, db: Db):
    if "secret" in body.model_fields_set:
        raise InvalidInput.field(
            "secret", "Secret cannot be updated; delete and recreate the webhook", code="VALIDATION_ERROR"
        )
    webhook = await service.update_webhook(
        db, project_id, webhook_id, url=body.url, events=body.events, is_active=body.isActive
    )
    return ok({"webhook": webhook}, message="Webhook updated successfully")


@router.delete("/{webhook_id}")
async def delete_webhook(webhook_id: str, project_id: ProjectId, db: Db):
    await service.delete_webhook(db, project_id, webhook_id)
    return ok(message="Webhook deleted successfully")


@router.get("/{webhook_id}/logs")
async def webhook_logs(
    webhook_id: str, project_id: ProjectId, db: Db, page: PageNumber = 1, limit: PageSize = 50
):
    return ok(await service.list_logs(db, project_id, webhook_id, page=Page(page, limit)))


@router.get("/{webhook_id}/reveal")
async def reveal_secret(webhook_id: str, project_id: ProjectId, db: Db):
    return ok({"secret": await service.reveal_secret(db, project_id, webhook_id)})


@router.post("/{webhook_id}/resend")
async def resend(webhook_id: str, body: WebhookResend, project_id: ProjectId, db: Db):
    job_id = await service.resend(db, project_id, webhook_id, event=body.event, data=body.data)
    return ok({"jobId": job_id}, message="Webhook queued for delivery")
