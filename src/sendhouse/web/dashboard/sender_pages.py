"""Authenticated senders page: list, add and delete senders through services/senders.py."""

from __future__ import annotations

from fastapi import APIRouter, Request

from sendhouse.errors import AppError, status_of
from sendhouse.services import senders as service
from sendhouse.web.dashboard.common import (
    Ctx,
    Form,
    Page,
    flash,
    optional,
    problems,
    redirect,
    render,
    text,
)
from sendhouse.web.dashboard.field_errors import refused

router = APIRouter()


async def _listing(
    request: Request,
    ctx: Ctx,
    *,
    status: int = 200,
    values: dict | None = None,
    **shown,
):
    senders = await service.list_senders(ctx.db, ctx.project_id)
    return render(
        request,
        "dashboard/senders.html",
        ctx,
        status=status,
        senders=senders,
        values=values or {},
        **shown,
    )


@router.get("/senders")
async def senders(request: Request, ctx: Page):
    return await _listing(request, ctx)


@router.post("/senders")
async def create_sender(request: Request, ctx: Page, form: Form):
    try:
        created = await service.create_sender(
            ctx.db,
            ctx.settings,
            ctx.project_id,
            email=text(form, "email"),
            name=optional(form, "name"),
            reply_to=optional(form, "replyTo"),
        )
    except AppError as exc:
        shown = refused(exc, codes={"AUTHENTICATED_SENDER_ALREADY_EXISTS": "email"})
        return await _listing(request, ctx, status=status_of(exc), values=dict(form), **shown)
    flash(request, f"Sender {created['sender']['email']} added.")
    return redirect(request, "/senders")


@router.post("/senders/{sender_id}/delete")
async def delete_sender(request: Request, ctx: Page, _form: Form, sender_id: str):
    await service.get_sender(ctx.db, ctx.project_id, sender_id)  # another project's sender: 404
    try:
        await service.delete_sender(ctx.db, ctx.project_id, sender_id)
    except AppError as exc:
        return await _listing(request, ctx, status=status_of(exc), errors=problems(exc))
    flash(request, "Sender deleted.")
    return redirect(request, "/senders")
