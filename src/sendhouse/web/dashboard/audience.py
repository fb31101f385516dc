"""Audience pages: lists and segments (created with the builder of segment_pages), and CSV import
with column mapping and a progress bar (the import runs in a background task). Contacts have
their own pages (contact_pages)."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from urllib.parse import quote

from fastapi import APIRouter, Request
from starlette.datastructures import FormData, UploadFile

from sendhouse.domain.contacts import GLOBAL_CONTACT_LIST, PROPERTY_TYPES
from sendhouse.domain.pagination import Page as Paging
from sendhouse.domain.wording import OPERATOR_WORDS
from sendhouse.errors import AppError, InvalidInput, InvalidOperation
from sendhouse.services import dashboard as stats
from sendhouse.services import import_mapping as mapping
from sendhouse.services import lists as list_service
from sendhouse.web.dashboard import segment_pages as segments
from sendhouse.web.dashboard.common import Ctx, Form, Page, flash, optional, problems, redirect, render, text
from sendhouse.web.dashboard.field_errors import refused

router = APIRouter()
PAGE_SIZE = 50
MAX_UPLOAD = 50 * 1024 * 1024


# --- lists and segments --------------------------------------------------------------------


@router.get("/lists")
async def lists(request: Request, ctx: Page):
    found = await list_service.list_lists(ctx.db, ctx.project_id, None)
    return render(request, "dashboard/lists.html", ctx, lists=found, values={}, **await segments.builder(ctx))


@router.post("/lists")
async def create_list(request: Request, ctx: Page, form: Form):
    kind = "segment" if text(form, "type") == "segment" else "list"
    criteria = segments.criteria_of(form, await segments.field_types(ctx)) if kind == "segment" else None
    new = list_service.NewList(text(form, "name"), optional(form, "description"), kind, criteria)
    try:
        created = await list_service.create_list(ctx.db, ctx.project_id, new)
    except AppError as exc:
        found = await list_service.list_lists(ctx.db, ctx.project_id, None)
        return render(
            request,
            "dashboard/lists.html",
            ctx,
            status=400,
            lists=found,
            **(segments.refused_segment(exc, form) if kind == "segment" else refused(exc)),
            values=dict(form),
            **await segments.builder(ctx),
        )
    flash(
        request, f"{kind.capitalize()} “{created['name']}” created with {created['contactCount']} contacts."
    )
    return redirect(request, f"/lists/{created['id']}")


@router.get("/lists/{list_id}")
async def list_detail(request: Request, ctx: Page, list_id: str, q: str = "", page: int = 1):
    found = await list_service.get_list(ctx.db, ctx.project_id, list_id)
    paging = Paging(max(page, 1), PAGE_SIZE)
    members, total = await list_service.search_contacts(ctx.db, ctx.project_id, list_id, q or None, paging)
    return render(
        request,
        "dashboard/list.html",
        ctx,
        list=found,
        contacts=members,
        total=total,
        q=q,
        operator_words=OPERATOR_WORDS,
    )


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
    return render(
        request, "dashboard/import.html", ctx, lists=[x for x in found if x["id"] != GLOBAL_CONTACT_LIST]
    )


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


def _readable_or_removed(path: Path) -> Path:
    """The upload, once its header and first rows read as CSV; a file that does not is not kept."""
    try:
        mapping.plan(path, {})
    except Exception:
        path.unlink(missing_ok=True)
        raise
    return path


@router.post("/imports")
async def upload_import(request: Request, ctx: Page, form: Form):
    """Keep the upload (a durable row and file) and send to its column mapping; nothing is imported yet."""
    upload = form.get("file")
    try:
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise InvalidInput.field("file", "choose a CSV file")
        path = _readable_or_removed(await _save_upload(ctx, upload))
    except AppError as exc:
        flash(request, " — ".join(problems(exc)), "error")
        return redirect(request, "/imports/new")
    except (UnicodeDecodeError, ValueError) as exc:
        flash(request, f"The file could not be read as CSV: {exc}", "error")
        return redirect(request, "/imports/new")
    upload_id = await stats.keep_upload(ctx.db, ctx.settings.data_dir, ctx.project_id, path)
    list_id = optional(form, "listId")
    return redirect(request, f"/imports/{upload_id}" + (f"?listId={quote(list_id)}" if list_id else ""))


async def _mapping_page(request: Request, ctx: Ctx, upload_id: str):
    """The columns of an upload waiting for its mapping, each with a proposed target and its reason."""
    path = await stats.upload_path(ctx.db, ctx.settings.data_dir, ctx.project_id, upload_id)
    types = await mapping.property_types(ctx.db, ctx.project_id)
    return render(
        request,
        "dashboard/import_mapping.html",
        ctx,
        **mapping.plan(path, types),
        upload_id=upload_id,
        list_id=request.query_params.get("listId", ""),
        types=PROPERTY_TYPES,
        targets=[*dict.fromkeys(mapping.BUILTIN.values()), *types],
    )


def _choices(form: FormData, count: int) -> list[dict]:
    return [
        {
            "target": text(form, f"target_{i}"),
            "newName": text(form, f"newName_{i}"),
            "newType": text(form, f"newType_{i}"),
        }
        for i in range(count)
    ]


@router.post("/imports/{upload_id}/start")
async def start_import(request: Request, ctx: Page, form: Form, upload_id: str):
    path = await stats.upload_path(ctx.db, ctx.settings.data_dir, ctx.project_id, upload_id)
    header = mapping.plan(path, {})["header"]
    try:
        mapped, skipped = await mapping.apply(ctx.db, ctx.project_id, header, _choices(form, len(header)))
    except AppError as exc:
        flash(request, " — ".join(problems(exc)), "error")
        return redirect(request, f"/imports/{upload_id}")
    job = await stats.start_upload(
        ctx.db, ctx.settings.data_dir, ctx.project_id, upload_id, optional(form, "listId"), mapped, skipped
    )
    return redirect(request, f"/imports/{job.id}")


@router.get("/imports/{job_id}")
async def import_status(request: Request, ctx: Page, job_id: str):
    """An upload waiting for its mapping shows the mapping; a started one its progress and report."""
    job = await stats.get_import(ctx.db, ctx.project_id, job_id)
    if job.status == "mapping":
        return await _mapping_page(request, ctx, job_id)
    name = (
        "dashboard/_import_progress.html"
        if request.headers.get("hx-request")
        else "dashboard/import_status.html"
    )
    return render(request, name, ctx, job=job)
