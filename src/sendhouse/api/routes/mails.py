"""/v1/mails: transactional send, bulk send and per-email status.

The models here check JSON types only; every AutoSend limit lives in domain/mails.py so the API,
MCP and CLI refuse the same requests with the same details.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Header, Request
from pydantic import Field

from sendhouse.api.deps import CurrentPrincipal, Db, ProjectId, container
from sendhouse.api.envelope import ok
from sendhouse.api.json_body import JsonRoute
from sendhouse.api.models import Address, RequestModel
from sendhouse.api.routing import PrefixRouter
from sendhouse.services import idempotency
from sendhouse.services import transactional as service

router = PrefixRouter(prefix="/v1/mails", tags=["mails"], route_class=JsonRoute)


class Attachment(RequestModel):
    fileName: str | None = None
    filename: str | None = None  # a published Python SDK's spelling of fileName
    content: str | None = None
    fileUrl: str | None = None
    contentType: str | None = None
    description: str | None = None
    contentId: str | None = None


class Unsubscribe(RequestModel):
    """A published Python SDK's `unsubscribe: {url, groupId}` (AutoSend documents unsubscribeGroupId)."""

    url: str | None = None
    groupId: str | None = None


class MailFields(RequestModel):
    """What send and bulk share. `to`/`cc`/`bcc` take one address or a list (the Node SDK sends both)."""

    from_: Address | None = Field(None, alias="from")
    cc: Address | list[Address] | None = None
    bcc: Address | list[Address] | None = None
    subject: str | None = None
    html: str | None = None
    text: str | None = None
    templateId: str | None = None
    dynamicData: dict[str, Any] | None = None
    variables: dict[str, Any] | None = None  # autosendjs 1.0.1's name for dynamicData
    replyTo: Address | None = None
    unsubscribeGroupId: str | None = None
    trackingOpen: bool | None = None
    trackingClick: bool | None = None
    headers: dict[str, str] | None = None
    bypassSuppressions: bool | None = None
    unsubscribe: Unsubscribe | None = None

    def as_request(self) -> dict:
        body = self.model_dump(by_alias=True, exclude_none=True)
        if "dynamicData" not in body and "variables" in body:
            body["dynamicData"] = body["variables"]
        group = body.pop("unsubscribe", {}).get("groupId")
        if group and "unsubscribeGroupId" not in body:
            body["unsubscribeGroupId"] = group
        return body


class SendMail(MailFields):
    to: Address | list[Address] | None = None
    attachments: list[Attachment] | None = None

    def as_request(self) -> dict:
        body = super().as_request()
        for item in body.get("attachments") or ():
            spelled = item.pop("filename", None)
            item.setdefault("fileName", spelled)
        return body


class BulkRecipient(RequestModel):
    email: str | None = None  # a recipient without one is refused alone, not the whole request
    name: str | None = None
    dynamicData: dict[str, Any] | None = None
    cc: Address | list[Address] | None = None
    bcc: Address | list[Address] | None = None


class BulkMail(MailFields):
    recipients: list[BulkRecipient] | None = None
    emails: list[SendMail] | None = None  # autosendjs 1.0.1's bulk shape


IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key")]


async def _run(request: Request, principal, project_id: str, key: str | None, route: str, work):
    """The work once per Idempotency-Key and body; a replay carries `Idempotent-Replayed: true`."""
    idem = idempotency.key_for(
        api_key_id=principal.api_key_id,
        project_id=project_id,
        route=route,
        key=key,
        body=await request.body(),
    )
    outcome = await idempotency.once(container(request).db, idem, work)
    response = ok(outcome.data)
    response.headers.update(outcome.headers)
    return response


@router.post("/send")
async def send_mail(
    body: SendMail,
    request: Request,
    principal: CurrentPrincipal,
    project_id: ProjectId,
    db: Db,
    idempotency_key: IdempotencyKey = None,
):
    settings = container(request).settings

    async def work(key: idempotency.Key | None) -> dict:
        return await service.send_mail(db, settings, project_id, body.as_request(), idempotency_record=key)

    return await _run(request, principal, project_id, idempotency_key, "POST /v1/mails/send", work)


@router.post("/bulk")
async def send_bulk(
    body: BulkMail,
    request: Request,
    principal: CurrentPrincipal,
    project_id: ProjectId,
    db: Db,
    idempotency_key: IdempotencyKey = None,
):
    settings = container(request).settings
    request_body = body.as_request()
    if body.emails is not None and body.recipients is None:
        request_body["emails"] = [e.as_request() for e in body.emails]

    async def work(key: idempotency.Key | None) -> dict:
        return await service.send_bulk(db, settings, project_id, request_body, idempotency_record=key)

    return await _run(request, principal, project_id, idempotency_key, "POST /v1/mails/bulk", work)


@router.get("/{email_id}/status")
async def mail_status(email_id: str, project_id: ProjectId, db: Db):
    return ok(await service.mail_status(db, project_id, email_id))
