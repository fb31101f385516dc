"""POST /v1/inbound/bounce: bounces and complaints reported over HTTP by relays that do not send
DSNs back to the VERP return path. Authenticated with a project key; the email must be one of
that project's (another project's is 404, as if it did not exist)."""

from __future__ import annotations

from typing import Literal

from fastapi import Request
from pydantic import Field

from sendhouse.api.deps import Db, ProjectId, container
from sendhouse.api.envelope import ok
from sendhouse.api.json_body import JsonRoute
from sendhouse.api.models import RequestModel
from sendhouse.api.routing import PrefixRouter
from sendhouse.services import bounces as service

router = PrefixRouter(prefix="/v1/inbound", tags=["inbound"], route_class=JsonRoute)


class BounceReport(RequestModel):
    """A bounce or complaint of one sent email. Name the email by `emailId` (as returned by
    /v1/mails/send, or a campaign recipient's ledger id) or by its `messageId` header."""

    emailId: str | None = Field(None, max_length=24, description="the emailId of the message")
    messageId: str | None = Field(None, max_length=255, description="the Message-ID header, e.g. <id@domain>")
    email: str = Field(max_length=320, description="the recipient that bounced or complained")
    type: Literal["hard", "soft", "complaint"] = Field(
        description="hard: permanent (suppressed at once); soft: transient (suppressed after "
        "SENDHOUSE_SOFT_BOUNCE_LIMIT); complaint: spam report (suppressed globally)"
    )
    reason: str | None = Field(None, max_length=1000, description="the remote server's text")
    status: str | None = Field(None, max_length=16, description="enhanced status code, e.g. 5.1.1")
    code: int | None = Field(None, ge=200, le=599, description="SMTP reply code, e.g. 550")


@router.post("/bounce")
async def report_bounce(body: BounceReport, project_id: ProjectId, db: Db, request: Request):
    """Record the report: events, suppression, webhooks and the campaign's auto-pause check."""
    report = service.HttpReport(
        type=body.type,
        email=body.email,
        message_id=body.messageId,
        email_id=body.emailId,
        reason=body.reason,
        status=body.status,
        code=body.code,
    )
    data = await service.report_over_http(db, container(request).settings, project_id, report)
    return ok(data, message="Report recorded successfully")
