"""Automation and event pages: the automations list with status and counts, create and edit
(trigger fields and the steps as AutoSend's JSON, with the templates to pick from), a vertical
view of the steps with their figures, activate / pause / resume; the events page lists the
definitions and the latest events. Everything goes through services.automations / events."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.datastructures import FormData

from sendhouse.domain.automations import TRIGGERS
from sendhouse.errors import AppError, InvalidInput, NotFound
from sendhouse.services import automations as service
from sendhouse.services import events as event_service
from sendhouse.services import lists as list_service
from sendhouse.services import templates as template_service
from sendhouse.web.dashboard.common import Ctx, Form, Page, flash, optional, problems, redirect, render, text
from sendhouse.web.dashboard.field_errors import refused

router = APIRouter()
EXAMPLE_STEPS = [
    {"type": "wait", "stepId": "wait_1", "delay": {"value": 0, "unit": "minutes"}},
    {"type": "email", "stepId": "email_1", "email": {"templateId": "A-…", "senderEmail": "team@example.com"}},
]
# The form's names for the API's entryCriteria, and the field an error without details is about.
FORM_NAMES = {
    "entryCriteria": "triggerType",
    "entryCriteria.type": "triggerType",
    "entryCriteria.contactListId": "contactListId",
    "entryCriteria.eventName": "eventName",
}
FORM_CODES = {"NAME_REQUIRED": "name", "EVENT_NAME_REQUIRED": "eventName", "INVALID_STEP_SEQUENCE": "steps"}


@router.get("/automations")
async def automation_list(request: Request, ctx: Page):
    found = await service.list_automations(ctx.db, ctx.project_id, status=None, tags=None, page=1, limit=100)
    return render(request, "dashboard/automations.html", ctx, automations=found["workflowAutomations"])


async def _choices(ctx: Ctx) -> dict:
    return {
        "lists": await list_service.list_lists(ctx.db, ctx.project_id, None),
        "templates": await template_service.list_templates(ctx.db, ctx.project_id),
        "events": (await event_service.list_definitions(ctx.db, ctx.project_id))["events"],
        "triggers": TRIGGERS,
    }


def _form_values(automation: dict) -> dict:
    entry = automation.get("entryCriteria") or {}
    return {
        "name": automation.get("name"),
        "triggerType": entry.get("type"),
        "contactListId": entry.get("contactListId"),
        "eventName": entry.get("eventName"),
        "unsubscribeGroupId": automation.get("unsubscribeGroupId"),
        "steps": orjson.dumps(automation.get("steps") or EXAMPLE_STEPS, option=orjson.OPT_INDENT_2).decode(),
    }


def fields_of(form: FormData) -> dict[str, Any]:
    """An automation body under AutoSend's names from the form (steps as JSON text)."""
    try:
        steps = orjson.loads(text(form, "steps") or "[]")
    except orjson.JSONDecodeError as exc:
        raise InvalidInput.field("steps", f"the steps are not valid JSON: {exc}") from None
    entry = {
        "type": text(form, "triggerType") or "contact_created",
        "contactListId": optional(form, "contactListId"),
    }
    if entry["type"] == "event_trigger":
        entry["eventName"] = optional(form, "eventName")
    return {
        "name": text(form, "name"),
        "entryCriteria": entry,
        "steps": steps,
        "unsubscribeGroupId": optional(form, "unsubscribeGroupId"),
    }


@router.get("/automations/new")
async def new_automation(request: Request, ctx: Page):
    return render(
        request,
        "dashboard/automation_form.html",
        ctx,
        automation=None,
        values=_form_values({}),
        **await _choices(ctx),
    )


@router.post("/automations")
async def create_automation(request: Request, ctx: Page, form: Form):
    try:
        made = await service.create_automation(ctx.db, ctx.project_id, fields_of(form))
    except AppError as exc:
        return render(
            request,
            "dashboard/automation_form.html",
            ctx,
            automation=None,
            **refused(exc, FORM_NAMES, FORM_CODES),
            values=dict(form),
            status=400,
            **await _choices(ctx),
        )
    flash(request, f"Automation “{made['name']}” created as a draft.")
    return redirect(request, f"/automations/{made['id']}")


@router.get("/automations/{automation_id}")
async def automation_detail(request: Request, ctx: Page, automation_id: str):
    found = await service.get_automation(ctx.db, ctx.project_id, automation_id)
    return render(
        request,
        "dashboard/automation.html",
        ctx,
        automation=found,
        values=_form_values(found),
        **await _choices(ctx),
    )


@router.post("/automations/{automation_id}")
async def update_automation(request: Request, ctx: Page, form: Form, automation_id: str):
    try:
        await service.update_automation(ctx.db, ctx.project_id, automation_id, fields_of(form))
    except NotFound:
        raise
    except AppError as exc:
        found = await service.get_automation(ctx.db, ctx.project_id, automation_id)
        return render(
            request,
            "dashboard/automation.html",
            ctx,
            automation=found,
            values=dict(form),
            **refused(exc, FORM_NAMES, FORM_CODES),
            status=400,
            **await _choices(ctx),
        )
    flash(request, "Automation saved.")
    return redirect(request, f"/automations/{automation_id}")


ACTIONS = {
    "activate": (service.activate, "Automation active: new contacts enter it."),
    "pause": (service.pause_automation, "Automation paused: contacts stay where they are."),
    "resume": (service.resume_automation, "Automation resumed."),
}


@router.post("/automations/{automation_id}/{action}")
async def automation_action(request: Request, ctx: Page, form: Form, automation_id: str, action: str):
    if action not in ACTIONS:
        raise NotFound("Unknown action")
    call, message = ACTIONS[action]
    try:
        await call(ctx.db, ctx.project_id, automation_id)
        flash(request, message)
    except NotFound:
        raise
    except AppError as exc:
        flash(request, " — ".join(problems(exc)), "error")
    return redirect(request, f"/automations/{automation_id}")


@router.get("/events")
async def events_page(request: Request, ctx: Page):
    definitions = (await event_service.list_definitions(ctx.db, ctx.project_id))["events"]
    latest = await event_service.latest_events(ctx.db, ctx.project_id)
    return render(request, "dashboard/events.html", ctx, definitions=definitions, latest=latest)
