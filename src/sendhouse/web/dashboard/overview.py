"""The overview page: recent campaigns with rates, audience growth, the last 30 days' bounces and
complaints, and what needs attention."""

from __future__ import annotations

from fastapi import APIRouter, Request

from sendhouse.services import overview as service
from sendhouse.web.dashboard.common import Page, render

router = APIRouter()


@router.get("/overview")
async def overview(request: Request, ctx: Page):
    return render(request, "dashboard/overview.html", ctx, **await service.overview(ctx.db, ctx.project_id))
