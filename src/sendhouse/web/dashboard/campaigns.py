"""Campaign pages: list with live progress, create/edit with a rendered preview, the send,
schedule, pause, resume and abort buttons, and analytics with SVG charts."""

from __future__ import annotations

import zoneinfo
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from sendhouse.domain.filters import CampaignFilter
from sendhouse.domain.pagination import Page as Paging
from sendhouse.domain.templating import compile_template
from sendhouse.errors import AppError, InvalidInput, NotFound
from sendhouse.services import campaign_page as page_service
from sendhouse.services import campaigns as service
from sendhouse.services import dashboard as stats
from sendhouse.services import lists as list_service
from sendhouse.services import overview as overview_service
from sendhouse.services import properties as property_service
from sendhouse.services import senders as sender_service
from sendhouse.services import templates as template_service
from sendhouse.web.dashboard import charts
from sendhouse.web.dashboard.common import (
    Ctx,
    Form,
    Page,
    detail_lines,
    flash,
    optional,
    problems,
    redirect,
    render,
    text,
)
from sendhouse.web.dashboard.field_errors import refused

router = APIRouter()
SENDING = ("scheduled", "sending", "sending_gradual")
ZONES = [
    "UTC",
    *sorted(z for z in zoneinfo.available_timezones() if "/" in z and not z.startswith(("Etc/", "SystemV"))),
]
FORM_NAMES = {"from": "fromEmail", "from.email": "fromEmail", "from.name": "fromName"}  # API path → form
SAMPLE = {
    "firstName": "Ada",
    "lastName": "Lovelace",
    "email": "ada@example.com",
    "first_name": "Ada",
    "last_name": "Lovelace",
    "name": "Ada Lovelace",
    "unsubscribe": "#unsubscribe",
    "unsubscribe_preference": "#preferences",
    "date": "2025-01-01",
}


async def _listing(ctx: Ctx) -> dict:
    found = await service.list_campaigns(
        ctx.db, ctx.project_id, CampaignFilter(), Paging(1, 100), include_counts=True
    )
    items = found["campaigns"]
    progress = await stats.progress_many(ctx.db, items)
    live = any(c["status"] in SENDING for c in items)
    numbers = {c["id"]: overview_service.campaign_rates(c) for c in items}
    return {"campaigns": items, "progress": progress, "live": live, "numbers": numbers}


@router.get("/")
async def home(request: Request, ctx: Page):
    return (
        redirect(request, "/campaigns") if ctx.project else render(request, "dashboard/no_project.html", ctx)
    )


@router.get("/campaigns")
async def campaign_list(request: Request, ctx: Page):
    return render(request, "dashboard/campaigns.html", ctx, **await _listing(ctx))


@router.get("/campaigns/rows")
async def campaign_rows(request: Request, ctx: Page):
    """The table body alone, polled by htmx while a campaign is sending."""
    return render(request, "dashboard/_campaign_rows.html", ctx, **await _listing(ctx))


async def _choices(ctx: Ctx) -> dict:
    return {
        "lists": await list_service.list_lists(ctx.db, ctx.project_id, None),
        "templates": await template_service.list_templates(ctx.db, ctx.project_id),
        "senders": await sender_service.list_senders(ctx.db, ctx.project_id),
    }


def fields_of(form: FormData) -> dict:
    """A campaign body under AutoSend's names from the form."""
    fields: dict[str, Any] = {
        "name": text(form, "name"),
        "subject": text(form, "subject"),
        "previewText": optional(form, "previewText"),
        "templateId": optional(form, "templateId"),
        "htmlTemplate": optional(form, "htmlTemplate"),
        "toLists": [str(v) for v in form.getlist("toLists") if v],
        "excludeLists": [str(v) for v in form.getlist("excludeLists") if v],
        "trackingOpen": form.get("trackingOpen") == "on",
        "trackingClick": form.get("trackingClick") == "on",
    }
    if "fromSenderId" in form:  # the form offered the project's senders
        fields["fromSenderId"] = optional(form, "fromSenderId")
    if not fields.get("fromSenderId") and text(form, "fromEmail"):
        fields["from"] = {"email": text(form, "fromEmail"), "name": optional(form, "fromName")}
    return fields


def _form_values(campaign: dict) -> dict:
    return {
        **campaign,
        "fromEmail": (campaign.get("from") or {}).get("email"),
        "fromName": (campaign.get("from") or {}).get("name"),
        "toLists": [x["id"] for x in campaign.get("toLists", [])],
        "excludeLists": [x["id"] for x in campaign.get("excludeLists", [])],
    }


def _blank() -> dict:
    return {"trackingOpen": True, "trackingClick": True, "toLists": [], "excludeLists": []}


@router.get("/campaigns/new")
async def new_campaign(request: Request, ctx: Page):
    return render(
        request, "dashboard/campaign_form.html", ctx, values=_blank(), campaign=None, **await _choices(ctx)
    )


@router.post("/campaigns/new")
async def create_campaign(request: Request, ctx: Page, form: Form):
    fields = fields_of(form)
    try:
        created = await service.create_campaign(
            ctx.db,
            ctx.project_id,
            fields,
            source="dashboard",
            created_by=ctx.user["email"],
            send_now_delay=ctx.settings.send_now_delay,
            verified_domain=ctx.settings.verified_domain_required(),
        )
    except AppError as exc:
        return render(
            request,
            "dashboard/campaign_form.html",
            ctx,
            status=400,
            values={**_blank(), **fields},
            campaign=None,
            **refused(exc, FORM_NAMES),
            **await _choices(ctx),
        )
    flash(request, f"Campaign “{created['name']}” saved as a draft.")
    return redirect(request, f"/campaigns/{created['id']}")


@router.get("/campaigns/{campaign_id}/edit")
async def edit_campaign(request: Request, ctx: Page, campaign_id: str):
    campaign = await service.get_campaign(ctx.db, ctx.project_id, campaign_id)
    return render(
        request,
        "dashboard/campaign_form.html",
        ctx,
        values=_form_values(campaign),
        campaign=campaign,
        **await _choices(ctx),
    )


@router.post("/campaigns/{campaign_id}/edit")
async def update_campaign(request: Request, ctx: Page, form: Form, campaign_id: str):
    fields = fields_of(form)
    try:
        await service.update_campaign(
            ctx.db,
            ctx.project_id,
            campaign_id,
            fields,
            send_now_delay=ctx.settings.send_now_delay,
            verified_domain=ctx.settings.verified_domain_required(),
        )
    except AppError as exc:
        campaign = await service.get_campaign(ctx.db, ctx.project_id, campaign_id)
        return render(
            request,
            "dashboard/campaign_form.html",
            ctx,
            status=400,
            values={**_blank(), **fields},
            campaign=campaign,
            **refused(exc, FORM_NAMES),
            **await _choices(ctx),
        )
    flash(request, "Campaign saved.")
    return redirect(request, f"/campaigns/{campaign_id}")


SAMPLE_OF_TYPE = {"number": 42, "boolean": True, "date": "2025-01-01"}


async def _sample(ctx: Ctx) -> dict:
    """Sample data: a made-up contact, with a value for every property of the project."""
    rows = await property_service.list_property_rows(ctx.db, ctx.project_id)
    return {**SAMPLE, **{r["name"]: SAMPLE_OF_TYPE.get(r["type"], f"sample {r['name']}") for r in rows}}


@router.post("/campaigns/preview")
async def preview(request: Request, ctx: Page, form: Form):
    """The campaign's HTML rendered with sample data (properties included), for the desktop and
    mobile frames."""
    source = text(form, "htmlTemplate") or text(form, "emailTemplate")
    if not source and text(form, "templateId"):
        template = await template_service.get_template(ctx.db, ctx.project_id, text(form, "templateId"))
        source = template["emailTemplate"] or ""
    try:
        html, errors = compile_template(source).render(await _sample(ctx)), []
    except InvalidInput as exc:
        html, errors = "", problems(exc)
    return render(request, "dashboard/_preview.html", ctx, html=html, errors=errors)


def _live(found: dict) -> dict:
    svg = {
        "timeline": charts.timeline_svg(found["timeline"], "Opens and clicks over time"),
        "links": charts.links_svg(found["links"], "Clicks per link"),
    }
    return {**found, "charts": svg}


@router.get("/campaigns/{campaign_id}")
async def campaign_detail(request: Request, ctx: Page, campaign_id: str):
    found = await page_service.live_state(ctx.db, ctx.project_id, campaign_id)
    return render(request, "dashboard/campaign.html", ctx, **_live(found), zones=ZONES, schedule={})


@router.get("/campaigns/{campaign_id}/progress")
async def campaign_progress(request: Request, ctx: Page, campaign_id: str, status: str = ""):
    """The live part of the page; a whole-page reload once the state differs from the page's."""
    found = await page_service.live_state(ctx.db, ctx.project_id, campaign_id)
    if status and status != found["campaign"]["status"]:
        return Response(status_code=204, headers={"HX-Refresh": "true"})
    return render(request, "dashboard/_campaign_live.html", ctx, **_live(found))


@router.get("/campaigns/{campaign_id}/send")
async def confirm_send(request: Request, ctx: Page, campaign_id: str):
    """The confirmation before a send: recipient count, start delay, what still blocks it."""
    delay = ctx.settings.send_now_delay
    found = await page_service.send_confirmation(ctx.db, ctx.project_id, campaign_id, send_now_delay=delay)
    return render(
        request,
        "dashboard/send_confirm.html",
        ctx,
        preview=found,
        delay=delay,
        problems=detail_lines(found["problems"]),
    )


ACTIONS = {
    "pause": (service.pause_campaign, "Campaign paused: no new message starts."),
    "resume": (service.resume_campaign, "Campaign resumed."),
    "unschedule": (
        service.unschedule_campaign,
        "Campaign unscheduled: it is a draft again and will not start.",
    ),
    "abort": (service.abort_campaign, "Campaign aborted. Mail already sent is not recalled."),
}


@router.post("/campaigns/{campaign_id}/{action}")
async def campaign_action(request: Request, ctx: Page, form: Form, campaign_id: str, action: str):
    """send (after its confirmation), schedule, pause, resume, abort, duplicate, delete — the
    service's own errors become a message."""
    if action == "send" and not text(form, "confirm"):
        return redirect(request, f"/campaigns/{campaign_id}/send")
    try:
        return await _act(ctx, form, campaign_id, action) or redirect(request, f"/campaigns/{campaign_id}")
    except AppError as exc:
        if isinstance(exc, NotFound):
            raise
        if action == "schedule" and isinstance(exc, InvalidInput):
            return await _schedule_refused(ctx, form, campaign_id, exc)
        flash(request, " — ".join(problems(exc)), "error")
    return redirect(request, f"/campaigns/{campaign_id}")


async def _schedule_refused(ctx: Ctx, form: FormData, campaign_id: str, exc: InvalidInput) -> Response:
    """The campaign page again, the refused date and zone kept and the message next to its field."""
    found = await page_service.live_state(ctx.db, ctx.project_id, campaign_id)
    chosen = {name: text(form, name) for name in ("scheduledAt", "timezone")}
    return render(
        ctx.request,
        "dashboard/campaign.html",
        ctx,
        status=400,
        **_live(found),
        zones=ZONES,
        schedule=chosen,
        **refused(exc),
    )


async def _act(ctx: Ctx, form: FormData, campaign_id: str, action: str):
    delay = ctx.settings.send_now_delay
    if action == "send":
        await page_service.send_now(ctx.db, ctx.project_id, campaign_id, send_now_delay=delay)
        flash(ctx.request, f"Send confirmed for {text(form, 'confirm')} recipients.")
    elif action == "schedule":
        await page_service.schedule_at(
            ctx.db,
            ctx.project_id,
            campaign_id,
            text(form, "scheduledAt"),
            text(form, "timezone"),
            send_now_delay=delay,
        )
        flash(ctx.request, "Campaign scheduled.")
    elif action in ACTIONS:
        call, message = ACTIONS[action]
        await call(ctx.db, ctx.project_id, campaign_id)
        flash(ctx.request, message)
    else:
        return await _copy_or_delete(ctx, campaign_id, action)
    return None


async def _copy_or_delete(ctx: Ctx, campaign_id: str, action: str):
    if action == "duplicate":
        copy = await service.duplicate_campaign(ctx.db, ctx.project_id, campaign_id, source="dashboard")
        flash(ctx.request, f"Saved a copy as the draft “{copy['name']}”.")
        return redirect(ctx.request, f"/campaigns/{copy['id']}")
    if action == "delete":
        await service.delete_campaign(ctx.db, ctx.project_id, campaign_id)
        flash(ctx.request, "Draft deleted.")
        return redirect(ctx.request, "/campaigns")
    raise NotFound("No such campaign action")
