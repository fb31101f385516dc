"""The Inbox pages: received messages with filters, one message with its verdicts, attachments,
raw source and a reply form (services/inbound, the same use cases as /v1/inbound/messages)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from sendhouse.domain.filters import InboxFilter
from sendhouse.domain.pagination import Page as Paging
from sendhouse.errors import AppError, NotFound
from sendhouse.services import inbound as service
from sendhouse.services import inbound_receive
from sendhouse.web.dashboard.common import Form, Page, flash, problems, redirect, render, text

router = APIRouter()
PAGE_SIZE = 50


@router.get("/inbox")
async def inbox(
    request: Request,
    ctx: Page,
    page: int = 1,
    sender: str = "",
    to: str = "",
    search: str = "",
    blocked: bool = False,
):
    filters = InboxFilter(
        from_email=sender.strip()[:320] or None,
        to_email=to.strip()[:320] or None,
        search=search.strip()[:200] or None,
        include_blocked=blocked,
    )
    found = await service.list_messages(ctx.db, ctx.project_id, filters, Paging(max(page, 1), PAGE_SIZE))
    address = "anything@" + inbound_receive.default_domain(ctx.settings, ctx.project_id)
    return render(
        request,
        "dashboard/inbox.html",
        ctx,
        items=found["items"],
        pagination=found["pagination"],
        sender=sender,
        to=to,
        search=search,
        blocked=blocked,
        address=address,
    )


@router.get("/inbox/{message_id}")
async def message(request: Request, ctx: Page, message_id: str):
    found = await service.get_message(ctx.db, ctx.project_id, message_id)
    return render(request, "dashboard/inbox_message.html", ctx, m=found)


@router.get("/inbox/{message_id}/attachments/{ref}")
async def attachment(ctx: Page, message_id: str, ref: str):
    found = await service.attachment(ctx.db, ctx.project_id, message_id, ref)
    name = (found["filename"] or "attachment").replace('"', "").encode("ascii", "replace").decode()
    return Response(
        found["content"],
        media_type=found["content_type"],
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "X-Content-Type-Options": "nosniff",
        },
    )


@router.get("/inbox/{message_id}/raw")
async def raw(ctx: Page, message_id: str):
    source = await service.raw_source(ctx.db, ctx.project_id, message_id)
    return Response(
        source,
        media_type="text/plain; charset=utf-8",
        headers={"X-Content-Type-Options": "nosniff", "Content-Disposition": "inline"},
    )


@router.post("/inbox/{message_id}/reply")
async def reply(request: Request, ctx: Page, form: Form, message_id: str):
    body = {
        "from": {"email": text(form, "from_email"), "name": text(form, "from_name") or None},
        "subject": text(form, "subject") or None,
        "text": text(form, "text"),
    }
    try:
        sent = await service.reply(ctx.db, ctx.settings, ctx.project_id, message_id, body)
        flash(request, f"Reply queued ({sent['emailId']}).")
    except AppError as exc:
        if isinstance(exc, NotFound):
            raise
        flash(request, " — ".join(problems(exc)), "error")
    return redirect(request, f"/inbox/{message_id}")
