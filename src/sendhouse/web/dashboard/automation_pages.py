"""Automation and event pages: the automations list with status and counts, create and edit
(trigger fields and the step editor of web/dashboard/step_editor.py: a vertical list of wait,
email and branch steps with the templates to pick from; the steps' JSON in an advanced fold), a
vertical view of the steps with their figures, activate / pause / resume; the events page lists
the definitions and the latest events. Everything goes through services.automations / events,
so a save from the editor meets the API's rules and error codes.

The editor's buttons (add, remove, move, add or remove a branch, load the JSON) post the whole
form with an `op` and get the page back with the change made and nothing saved; they work
without JavaScript."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from sendhouse.domain.automations import TRIGGERS
from sendhouse.errors import AppError, InvalidInput, NotFound
from sendhouse.services import automations as service
from sendhouse.services import events as event_service
from sendhouse.services import lists as list_service
from sendhouse.services import templates as template_service
from sendhouse.web.dashboard import step_editor
from sendhouse.web.dashboard.common import Ctx, Form, Page, flash, optional, problems, redirect, render, text
from sendhouse.web.dashboard.field_errors import refused
from sendhouse.web.dashboard.segment_pages import builder

router = APIRouter()
# The form's names for the API's entryCriteria, and the field an error without details is about.
FORM_NAMES = {
    "entryCriteria": "triggerType",
    "entryCriteria.type": "triggerType",
    "entryCriteria.contactListId": "contactListId",
    "entryCriteria.eventName": "eventName",
}
FORM_CODES = {"NAME_REQUIRED": "name", "EVENT_NAME_REQUIRED": "eventName"}  # step errors name their step
Save = Callable[[dict], Awaitable[Response]]


@router.get("/automations")
async def automation_list(request: Request, ctx: Page):
    found = await service.list_automations(ctx.db, ctx.project_id, status=None, tags=None, page=1, limit=100)
    return render(request, "dashboard/automations.html", ctx, automations=found["workflowAutomations"])


def _event_fields(events: list[dict]) -> dict[str, str]:
    """The entering event's fields a branch can test, with their types."""
    found = {"event.name": "string"}
    for event in events:
        found.update({f"event.properties.{p['propertyName']}": p["type"] for p in event["properties"]})
    return found


async def _choices(ctx: Ctx) -> dict:
    events = (await event_service.list_definitions(ctx.db, ctx.project_id))["events"]
    conditions = await builder(ctx)
    conditions.pop("rows")
    conditions["fields"].update(_event_fields(events))
    return {
        "lists": await list_service.list_lists(ctx.db, ctx.project_id, None),
        "templates": await template_service.list_templates(ctx.db, ctx.project_id),
        "events": events,
        "triggers": TRIGGERS,
        "kinds": step_editor.KINDS,
        "units": step_editor.UNITS,
        **conditions,
    }


def _form_values(automation: dict) -> dict:
    entry = automation.get("entryCriteria") or {}
    return {
        "name": automation.get("name"),
        "triggerType": entry.get("type"),
        "contactListId": entry.get("contactListId"),
        "eventName": entry.get("eventName"),
        "unsubscribeGroupId": automation.get("unsubscribeGroupId"),
    }


def _json(steps: Any) -> str:
    return orjson.dumps(steps, option=orjson.OPT_INDENT_2).decode()


def _pasted(form: FormData) -> list:
    """The steps typed as JSON in the advanced fold."""
    try:
        return orjson.loads(text(form, "steps") or "[]")
    except orjson.JSONDecodeError as exc:
        raise InvalidInput.field("steps", f"the steps are not valid JSON: {exc}") from None


def _from_editor(form: FormData) -> bool:
    """Whether the form came from the step editor (a post without it gives the steps as JSON)."""
    return "step_count" in form


def _posted_rows(form: FormData) -> list[dict]:
    if _from_editor(form):
        return step_editor.rows_of_form(form)
    try:
        return step_editor.rows_of_steps(_pasted(form))
    except InvalidInput:
        return []


def fields_of(form: FormData, rows: list[dict], known: dict[str, str]) -> dict[str, Any]:
    """An automation body under AutoSend's names from the form and its steps."""
    entry = {
        "type": text(form, "triggerType") or "contact_created",
        "contactListId": optional(form, "contactListId"),
    }
    if entry["type"] == "event_trigger":
        entry["eventName"] = optional(form, "eventName")
    steps = step_editor.steps_of_rows(rows, known) if _from_editor(form) else _pasted(form)
    return {
        "name": text(form, "name"),
        "entryCriteria": entry,
        "steps": steps,
        "unsubscribeGroupId": optional(form, "unsubscribeGroupId"),
    }


def _show(request: Request, ctx: Ctx, automation: dict | None, values: dict, rows: list[dict], **extra):
    """The new-automation page, or an automation's page, with the editor showing `rows`."""
    choices = extra.pop("choices")
    names = {t["templateId"]: t["templateName"] for t in choices["templates"]}
    extra.setdefault("steps_json", _json(step_editor.steps_of_rows(rows, choices["fields"])))
    return render(
        request,
        "dashboard/automation.html" if automation else "dashboard/automation_form.html",
        ctx,
        automation=automation,
        values=values,
        step_rows=rows,
        step_titles=step_editor.titles(rows, names),
        **choices,
        **extra,
    )


async def _posted(request: Request, ctx: Ctx, form: FormData, automation: dict | None, save: Save):
    """A button of the editor (the page again, changed, nothing saved), or a save. A refused one
    keeps what was typed and shows each message next to its step."""
    choices, op = await _choices(ctx), text(form, "op")
    page = partial(_show, request, ctx, automation, dict(form), choices=choices)
    try:
        if op == "json":
            return page(step_editor.rows_of_steps(_pasted(form)))
        if op:
            return page(step_editor.change(_posted_rows(form), op, text(form, "new_kind")))
        return await save(fields_of(form, _posted_rows(form), choices["fields"]))
    except NotFound:
        raise
    except AppError as exc:
        typed = (
            {"steps_json": text(form, "steps"), "json_source": True}
            if op == "json" or not _from_editor(form)
            else {}
        )
        return page(_posted_rows(form), status=400, **typed, **refused(exc, FORM_NAMES, FORM_CODES))


@router.get("/automations/new")
async def new_automation(request: Request, ctx: Page):
    rows = step_editor.change(step_editor.change([], "add", "wait"), "add", "email")
    return _show(request, ctx, None, _form_values({}), rows, choices=await _choices(ctx))


@router.post("/automations")
async def create_automation(request: Request, ctx: Page, form: Form):
    async def save(body: dict) -> Response:
        made = await service.create_automation(ctx.db, ctx.project_id, body)
        flash(request, f"Automation “{made['name']}” created as a draft.")
        return redirect(request, f"/automations/{made['id']}")

    return await _posted(request, ctx, form, None, save)


@router.get("/automations/{automation_id}")
async def automation_detail(request: Request, ctx: Page, automation_id: str):
    found = await service.get_automation(ctx.db, ctx.project_id, automation_id)
    choices = await _choices(ctx)
    subjects = {t["templateId"]: t["subject"] for t in choices["templates"]}
    rows = step_editor.rows_of_steps(found["steps"], subjects)
    return _show(
        request, ctx, found, _form_values(found), rows, choices=choices, steps_json=_json(found["steps"])
    )


@router.post("/automations/{automation_id}")
async def update_automation(request: Request, ctx: Page, form: Form, automation_id: str):
    found = await service.get_automation(ctx.db, ctx.project_id, automation_id)

    async def save(body: dict) -> Response:
        await service.update_automation(ctx.db, ctx.project_id, automation_id, body)
        flash(request, "Automation saved.")
        return redirect(request, f"/automations/{automation_id}")

    return await _posted(request, ctx, form, found, save)


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
