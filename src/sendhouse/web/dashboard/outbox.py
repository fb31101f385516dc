"""The outbox: messages the capture transport stored, listed with filters (status, campaign,
recipient), shown without tracking side effects, and as raw source."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from sendhouse.domain.filters import CampaignFilter
from sendhouse.domain.pagination import Page as Paging
from sendhouse.services import campaigns as campaign_service
from sendhouse.services import dashboard as stats
from sendhouse.web.dashboard.common import Page, render

router = APIRouter()
PAGE_SIZE = 50
STATUSES = ("queued", "sending", "deferred", "sent", "bounced", "failed", "cancelled", "suppressed")


@router.get("/outbox")
async def outbox(
    request: Request, ctx: Page, page: int = 1, status: str = "", campaign: str = "", recipient: str = ""
):
    page = max(page, 1)
    filters = stats.OutboxFilter(status or None, campaign or None, recipient.strip() or None)
    entries, total = await stats.outbox(
        ctx.db,
        ctx.settings.data_dir,
        ctx.project_id,
        limit=PAGE_SIZE,
        offset=(page - 1) * PAGE_SIZE,
        filters=filters,
    )
    found = await campaign_service.list_campaigns(ctx.db, ctx.project_id, CampaignFilter(), Paging(1, 100))
    names = {c["id"]: c["name"] for c in found["campaigns"]}
    return render(
        request,
        "dashboard/outbox.html",
        ctx,
        entries=entries,
        total=total,
        page=page,
        pages=max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1),
        filters=filters,
        names=names,
        statuses=STATUSES,
    )


@router.get("/outbox/{capture_id}")
async def captured(request: Request, ctx: Page, capture_id: str):
    found = await stats.readable_message(
        ctx.db, ctx.settings.data_dir, ctx.settings.resolved_secret_key(), ctx.project_id, capture_id
    )
    return render(request, "dashboard/captured.html", ctx, **found)


@router.get("/outbox/{capture_id}/raw")
async def captured_raw(ctx: Page, capture_id: str):
    _, raw = await stats.captured_message(ctx.db, ctx.settings.data_dir, ctx.project_id, capture_id)
    return Response(
        raw,
        media_type="text/plain; charset=utf-8",
        headers={"X-Content-Type-Options": "nosniff", "Content-Disposition": "inline"},
    )
