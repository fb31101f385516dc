"""Audience pages: contacts (search, detail), lists and segments (with the segment builder and its
live count), and CSV import with a progress bar (the import runs in a background task)."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from starlette.datastructures import FormData, UploadFile

from sendhouse.domain.contacts import GLOBAL_CONTACT_LIST, PROPERTY_TYPES
from sendhouse.domain.pagination import Page as Paging
from sendhouse.domain.segments import BUILTIN_FIELDS, OPERATORS
from sendhouse.errors import AppError, InvalidInput, InvalidOperation
from sendhouse.services import contacts as contact_service
from sendhouse.services import dashboard as stats
from sendhouse.services import events as event_service
from sendhouse.services import import_mapping as mapping
from sendhouse.services import lists as list_service
from sendhouse.services import properties as property_service
from sendhouse.web.dashboard.common import Ctx, Form, Page, flash, optional, problems, redirect, render, text

router = APIRouter()
CONDITION_ROWS = 5
PAGE_SIZE = 50
MAX_UPLOAD = 50 * 1024 * 1024


@router.get("/contacts")
async def contacts(request: Request, ctx: Page, q: str = "", page: int = 1):
    paging = Paging(max(page, 1), PAGE_SIZE)
    found, total = await list_service.search_contacts(ctx.db, ctx.project_id, GLOBAL_CONTACT_LIST, q or None, paging)
    return render(request, "dashboard/contacts.html", ctx, contacts=found, total=total, q=q,
                  pagination=paging.describe(total))


@router.get("/contacts/{contact_id}")
async def contact_detail(request: Request, ctx: Page, contact_id: str):
    contact = await contact_service.get_contact(ctx.db, ctx.project_id, contact_id)
    groups = await contact_service.unsubscribe_groups(ctx.db, ctx.project_id, contact_id)
    lists = {x["id"]: x["name"] for x in await list_service.list_lists(ctx.db, ctx.project_id, None)}
    events = await event_service.contact_events(ctx.db, ctx.project_id, contact_id)
    return render(request, "dashboard/contact.html", ctx, contact=contact, groups=groups, list_names=lists,
                  events=events)


# --- lists and segments --------------------------------------------------------------------


async def _builder(ctx: Ctx) -> dict:
    """The segment builder's choices: built-in fields, then the project's own properties."""
    custom = [r["name"] for r in await property_service.list_property_rows(ctx.db, ctx.project_id)]
    return {"fields": [*BUILTIN_FIELDS, *custom], "operators": OPERATORS, "rows": range(CONDITION_ROWS)}


@router.get("/lists")
async def lists(request: Request, ctx: Page):
    found = await list_service.list_lists(ctx.db, ctx.project_id, None)
    return render(request, "dashboard/lists.html", ctx, lists=found, values={}, **await _builder(ctx))


def _typed(field_type: str, raw: str) -> Any:
    """A form value as the JSON type the API would receive."""
    if field_type == "number":
        for kind in (int, float):
            try:
                return kind(raw)
            except ValueError:
                pass
    if field_type == "boolean" and raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    return raw


def _value(field_type: str, operator: str, raw: str) -> Any:
    if operator == "between":
        parts = [p.strip() for p in raw.replace("..", ",").split(",")]
        return [_typed(field_type, p) for p in parts]
    return _typed(field_type, raw)


def criteria_of(form: FormData) -> dict:
    """filterCriteria from the builder's rows (rows without a field are ignored)."""
    groups = []
    for i in range(CONDITION_ROWS):
        name = text(form, f"field_{i}")
        if not name:
            continue
        field_type, operator = text(form, f"fieldType_{i}"), text(form, f"operator_{i}")
        groups.append({"field": name, "fieldType": field_type, "operator": operator,
                       "value": _value(field_type, operator, text(form, f"value_{i}"))})
    return {"logicalOperator": text(form, "logicalOperator") or "AND", "groups": groups}


@router.post("/segments/count")
async def segment_count(request: Request, ctx: Page, form: Form):
    """The live count under the builder (htmx)."""
    try:
        count, errors = await stats.count_criteria(ctx.db, ctx.project_id, criteria_of(form)), []
    except InvalidInput as exc:
        count, errors = None, problems(exc)
    return render(request, "dashboard/_segment_count.html", ctx, count=count, errors=errors)


@router.post("/lists")
async def create_list(request: Request, ctx: Page, form: Form):
    kind = "segment" if text(form, "type") == "segment" else "list"
    new = list_service.NewList(text(form, "name"), optional(form, "description"), kind,
                               criteria_of(form) if kind == "segment" else None)
    try:
        created = await list_service.create_list(ctx.db, ctx.project_id, new)
    except AppError as exc:
        found = await list_service.list_lists(ctx.db, ctx.project_id, None)
        return render(request, "dashboard/lists.html", ctx, status=400, lists=found, errors=problems(exc),
                      values=dict(form), **await _builder(ctx))
    flash(request, f"{kind.capitalize()} “{created['name']}” created with {created['contactCount']} contacts.")
    return redirect(request, f"/lists/{created['id']}")


@router.get("/lists/{list_id}")
async def list_detail(request: Request, ctx: Page, list_id: str, q: str = "", page: int = 1):
    found = await list_service.get_list(ctx.db, ctx.project_id, list_id)
    paging = Paging(max(page, 1), PAGE_SIZE)
    members, total = await list_service.search_contacts(ctx.db, ctx.project_id, list_id, q or None, paging)
    return render(request, "dashboard/list.html", ctx, list=found, contacts=members, total=total, q=q)


@router.post("/lists/{list_id}/delete")
async def delete_list(request: Request, ctx: Page, _form: Form, list_id: str):
    try:
        await list_service.delete_list(ctx.db, ctx.project_id, list_id)
    except (InvalidInput, InvalidOperation) as exc:
        flash(request, " — ".join(problems(exc)), "error")
        return redirect(request, f"/lists/{list_id}")
    flash(request, "Deleted.")
    return redirect(request, "/lists")


# --- CSV import ----------------------------------------------------------------------------


@router.get("/imports/new")
async def import_page(request: Request, ctx: Page):
    found = await list_service.list_lists(ctx.db, ctx.project_id, "list")
    return render(request, "dashboard/import.html", ctx, lists=[x for x in found if x["id"] != GLOBAL_CONTACT_LIST])


async def _save_upload(ctx: Ctx, upload: UploadFile) -> Path:
    folder = ctx.settings.data_dir / "imports"
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=folder, suffix=".csv", delete=False) as handle:
        written = 0
        while chunk := await upload.read(1024 * 1024):
            written += len(chunk)
            if written > MAX_UPLOAD:
                await asyncio.to_thread(Path(handle.name).unlink, missing_ok=True)
                raise InvalidInput.field("file", "the file is larger than 50 MB")
            handle.write(chunk)
    return Path(handle.name)


@router.post("/imports")
async def upload_import(request: Request, ctx: Page, form: Form):
    """Keep the upload and show its columns to map (or skip) before anything is imported."""
    upload = form.get("file")
    try:
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise InvalidInput.field("file", "choose a CSV file")
        path = await _save_upload(ctx, upload)
        types = await mapping.property_types(ctx.db, ctx.project_id)
        found = mapping.plan(path, types)
    except AppError as exc:
        flash(request, " — ".join(problems(exc)), "error")
        return redirect(request, "/imports/new")
    except (UnicodeDecodeError, ValueError) as exc:
        flash(request, f"The file could not be read as CSV: {exc}", "error")
        return redirect(request, "/imports/new")
    upload_id = stats.keep_upload(ctx.container.extras, ctx.project_id, path)
    return render(request, "dashboard/import_mapping.html", ctx, **found, upload_id=upload_id,
                  list_id=optional(form, "listId") or "", types=PROPERTY_TYPES,
                  targets=[*dict.fromkeys(mapping.BUILTIN.values()), *types])


def _choices(form: FormData, count: int) -> list[dict]:
    return [{"target": text(form, f"target_{i}"), "newName": text(form, f"newName_{i}"),
             "newType": text(form, f"newType_{i}")} for i in range(count)]


@router.post("/imports/{upload_id}/start")
async def start_import(request: Request, ctx: Page, form: Form, upload_id: str):
    path = stats.upload_path(ctx.container.extras, ctx.project_id, upload_id)
    header = mapping.plan(path, {})["header"]
    try:
        mapped, skipped = await mapping.apply(ctx.db, ctx.project_id, header, _choices(form, len(header)))
    except AppError as exc:
        flash(request, " — ".join(problems(exc)), "error")
        return redirect(request, "/imports/new")
    stats.forget_upload(ctx.container.extras, upload_id)
    job = await stats.start_import(ctx.db, ctx.project_id, path, optional(form, "listId"), mapped, skipped)
    return redirect(request, f"/imports/{job.id}")


@router.get("/imports/{job_id}")
async def import_status(request: Request, ctx: Page, job_id: str):
    job = await stats.get_import(ctx.db, ctx.project_id, job_id)
    name = "dashboard/_import_progress.html" if request.headers.get("hx-request") else "dashboard/import_status.html"
    return render(request, name, ctx, job=job)
