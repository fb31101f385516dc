"""/v1/inbound/messages (the inbox: list, get, attachments, raw source, reply), the signed download
links they hand out (/v1/inbound/downloads/{token}, no key: the token is the credential), and
/v1/domains/{id}/inbound/enable|disable."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import Field

from sendhouse.api.deps import Db, ProjectId, container
from sendhouse.api.envelope import ok
from sendhouse.api.models import Address, RequestModel
from sendhouse.api.routes.mails import Attachment
from sendhouse.domain.filters import InboxFilter
from sendhouse.domain.pagination import Page
from sendhouse.services import inbound as service

router = APIRouter(tags=["inbound"])


class Reply(RequestModel):
    from_: Address | None = Field(None, alias="from")
    subject: str | None = Field(None, min_length=1, max_length=998)
    html: str | None = None
    text: str | None = None
    cc: list[Address] | None = Field(None, max_length=50)
    bcc: list[Address] | None = Field(None, max_length=50)
    attachments: list[Attachment] | None = Field(None, max_length=20)


def _settings(request: Request):
    return container(request).settings


@router.get("/v1/inbound/messages")
async def list_messages(
    project_id: ProjectId,
    db: Db,
    from_: Annotated[str | None, Query(alias="from", max_length=320)] = None,
    to: Annotated[str | None, Query(max_length=320)] = None,
    threadId: Annotated[str | None, Query(max_length=24)] = None,
    search: Annotated[str | None, Query(max_length=200)] = None,
    dateFrom: Annotated[str | None, Query(max_length=40)] = None,
    dateTo: Annotated[str | None, Query(max_length=40)] = None,
    includeBlocked: bool = False,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
):
    filters = InboxFilter(
        from_email=from_ or None,
        to_email=to or None,
        thread_id=threadId or None,
        search=search or None,
        date_from=service.parse_date(dateFrom, "dateFrom"),
        date_to=service.parse_date(dateTo, "dateTo"),
        include_blocked=includeBlocked,
    )
    return ok(await service.list_messages(db, project_id, filters, Page(page, limit)))


@router.get("/v1/inbound/messages/{message_id}")
async def get_message(message_id: str, project_id: ProjectId, db: Db):
    return ok(await service.get_message(db, project_id, message_id))


def _file(content_type: str, filename: str | None, content: bytes) -> Response:
    name = (filename or "attachment").replace('"', "").replace("\r", "").replace("\n", "")
    disposition = f'attachment; filename="{name.encode("ascii", "replace").decode()}"'
    return Response(content, media_type=content_type, headers={"Content-Disposition": disposition})


@router.get("/v1/inbound/messages/{message_id}/attachments/{ref}")
async def get_attachment(
    message_id: str, ref: str, request: Request, project_id: ProjectId, db: Db, download: bool = False
):
    found = await service.attachment(db, project_id, message_id, ref)
    if download:
        return _file(found["content_type"], found["filename"], found["content"])
    return ok(service.attachment_link(_settings(request), found))


@router.get("/v1/inbound/messages/{message_id}/raw")
async def get_raw(message_id: str, request: Request, project_id: ProjectId, db: Db, download: bool = False):
    if download:
        return _file(
            "message/rfc822", f"{message_id}.eml", await service.raw_source(db, project_id, message_id)
        )
    return ok(await service.raw_link(db, _settings(request), project_id, message_id))


@router.post("/v1/inbound/messages/{message_id}/reply")
async def reply(message_id: str, body: Reply, request: Request, project_id: ProjectId, db: Db):
    data = await service.reply(
        db, _settings(request), project_id, message_id, body.model_dump(by_alias=True, exclude_none=True)
    )
    return ok(data, message="Reply queued", status=202)


@router.get(
    "/v1/inbound/downloads/{token}", include_in_schema=False
)  # public: the signed token is the credential
async def download(token: str, request: Request, db: Db):
    return _file(*await service.download(db, _settings(request), token))


@router.post("/v1/domains/{domain_id}/inbound/enable")
async def enable_inbound(domain_id: str, request: Request, project_id: ProjectId, db: Db):
    return ok(
        await service.enable_domain(db, _settings(request), project_id, domain_id),
        message="Inbound enabled for the domain",
    )


@router.post("/v1/domains/{domain_id}/inbound/disable")
async def disable_inbound(domain_id: str, request: Request, project_id: ProjectId, db: Db):
    return ok(
        await service.disable_domain(db, _settings(request), project_id, domain_id),
        message="Inbound disabled for the domain",
    )
