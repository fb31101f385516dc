"""The outbox: messages the capture transport stored, listed, rendered and as raw source."""

from __future__ import annotations

import email.policy
from email.parser import BytesParser

from fastapi import APIRouter, Request
from fastapi.responses import Response

from sendhouse.services import dashboard as stats
from sendhouse.web.dashboard.common import Page, render

router = APIRouter()
PAGE_SIZE = 50


def parts_of(raw: bytes) -> dict:
    """The headers, HTML and text bodies of a message."""
    message = BytesParser(policy=email.policy.default).parsebytes(raw)
    html = message.get_body(preferencelist=("html",))
    plain = message.get_body(preferencelist=("plain",))
    headers = [(k, str(v)) for k, v in message.items()]
    return {"headers": headers, "html": html.get_content() if html else "",
            "text": plain.get_content() if plain else ""}


@router.get("/outbox")
async def outbox(request: Request, ctx: Page, page: int = 1):
    page = max(page, 1)
    entries, total = await stats.outbox(ctx.db, ctx.settings.data_dir, ctx.project_id, limit=PAGE_SIZE,
                                        offset=(page - 1) * PAGE_SIZE)
    return render(request, "dashboard/outbox.html", ctx, entries=entries, total=total, page=page,
                  pages=max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1))


@router.get("/outbox/{capture_id}")
async def captured(request: Request, ctx: Page, capture_id: str):
    entry, raw = await stats.captured_message(ctx.db, ctx.settings.data_dir, ctx.project_id, capture_id)
    return render(request, "dashboard/captured.html", ctx, entry=entry, **parts_of(raw))


@router.get("/outbox/{capture_id}/raw")
async def captured_raw(ctx: Page, capture_id: str):
    _, raw = await stats.captured_message(ctx.db, ctx.settings.data_dir, ctx.project_id, capture_id)
    return Response(raw, media_type="text/plain; charset=utf-8",
                    headers={"X-Content-Type-Options": "nosniff", "Content-Disposition": "inline"})
