"""Suppression pages: groups (create, edit, deactivate) and their entries (search with filters and
pages, suppress and lift addresses), all through services/suppressions.py with its errors shown."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from urllib.parse import urlencode

from fastapi import APIRouter, Request

from sendhouse.domain.pagination import Page as Paging
from sendhouse.errors import AppError, InvalidInput, NotFound
from sendhouse.services import suppressions as service
from sendhouse.web.dashboard.common import Ctx, Form, Page, flash, optional, problems, redirect, render, text
from sendhouse.web.dashboard.field_errors import field_errors, refused

router = APIRouter()
PAGE_SIZE = 50
MAX_PAGE = 1_000_000


@dataclass(frozen=True)
class Filters:
    """The entries search as the page's query string gives it."""

    group: str = ""
    reason: str = ""
    q: str = ""
    page: int = 1

    def query(self) -> service.EntryQuery:
        if self.reason and self.reason not in service.REASONS:
            raise InvalidInput.field("reason", f"reason must be one of {', '.join(service.REASONS)}")
        return service.EntryQuery(
            group_code=self.group or None, reason=self.reason or None, search=self.q or None
        )

    def link(self, page: int) -> str:
        return "?" + urlencode({**asdict(self), "page": page})


async def _listing(
    request: Request,
    ctx: Ctx,
    filters: Filters,
    *,
    status: int = 200,
    errors: list[str] | None = None,
    values: dict | None = None,
    group_errors: dict | None = None,
    entry_errors: dict | None = None,
):
    """The page; a refused form's own fields are marked (`group_errors`: the new group form,
    `entry_errors`: the addresses form)."""
    groups = [service.present_group(g) for g in await service.list_groups(ctx.db, ctx.project_id)]
    paging = Paging(min(max(filters.page, 1), MAX_PAGE), PAGE_SIZE)
    try:
        rows, total = await service.search_entries(ctx.db, ctx.project_id, filters.query(), paging)
    except InvalidInput as exc:
        rows, total, errors = [], 0, [*(errors or []), *problems(exc)]
        status = 400
    return render(
        request,
        "dashboard/suppressions.html",
        ctx,
        status=status,
        errors=errors,
        groups=groups,
        entries=[service.present_entry(r) for r in rows],
        pagination=paging.describe(total),
        filters=filters,
        reasons=service.REASONS,
        values=values or {},
        group_errors=group_errors or {},
        entry_errors=entry_errors or {},
    )


@router.get("/suppressions")
async def suppressions(
    request: Request, ctx: Page, group: str = "", reason: str = "", q: str = "", page: int = 1
):
    return await _listing(request, ctx, Filters(group, reason, q, page))


@router.post("/suppressions/groups")
async def create_group(request: Request, ctx: Page, form: Form):
    try:
        created = await service.create_group(
            ctx.db,
            ctx.project_id,
            name=text(form, "name"),
            description=optional(form, "description"),
            is_active=True,
        )
    except AppError as exc:
        return await _listing(
            request,
            ctx,
            Filters(),
            status=400,
            errors=problems(exc),
            values=dict(form),
            group_errors=field_errors(exc),
        )
    flash(request, f"Suppression group “{created['name']}” created.")
    return redirect(request, "/suppressions")


def _group_page(request: Request, ctx: Ctx, group: dict, *, status: int = 200, **shown):
    return render(request, "dashboard/suppression_group.html", ctx, status=status, group=group, **shown)


@router.get("/suppressions/groups/{code}")
async def group_detail(request: Request, ctx: Page, code: str):
    return _group_page(
        request, ctx, service.present_group(await service.get_group(ctx.db, ctx.project_id, code))
    )


async def _change_group(request: Request, ctx: Ctx, code: str, changes: dict, done: str):
    group = await service.get_group(ctx.db, ctx.project_id, code)  # another project's code: 404
    try:
        await service.update_group(ctx.db, ctx.project_id, code, changes)
    except AppError as exc:
        shown = {**service.present_group(group), **{k: v for k, v in changes.items() if k != "is_active"}}
        return _group_page(request, ctx, shown, status=400, **refused(exc))
    flash(request, done)
    return redirect(request, f"/suppressions/groups/{code}")


@router.post("/suppressions/groups/{code}")
async def update_group(request: Request, ctx: Page, form: Form, code: str):
    changes = {
        "name": text(form, "name"),
        "description": optional(form, "description"),
        "is_active": form.get("isActive") == "on",
    }
    return await _change_group(request, ctx, code, changes, "Suppression group saved.")


@router.post("/suppressions/groups/{code}/deactivate")
async def deactivate_group(request: Request, ctx: Page, _form: Form, code: str):
    return await _change_group(request, ctx, code, {"is_active": False}, "Suppression group deactivated.")


def _emails(raw: str) -> list[str]:
    return [e for e in raw.replace(",", "\n").split() if e]


async def _entries_refused(request: Request, ctx: Ctx, form, exc: AppError, group: str):
    return await _listing(
        request,
        ctx,
        Filters(group),
        status=400,
        errors=problems(exc),
        values=dict(form),
        entry_errors=field_errors(exc),
    )


async def _entries_change(request: Request, ctx: Ctx, form, *, lift: bool):
    group, emails = optional(form, "group"), _emails(text(form, "emails"))
    try:
        if not emails:
            raise InvalidInput.field("emails", "Give at least one address")
        if lift:
            count = await service.unsuppress_emails(
                ctx.db, ctx.project_id, emails, group_code=group, is_global=not group
            )
        else:
            count = await service.suppress_emails(
                ctx.db, ctx.project_id, emails, group_code=group, reason="MANUAL", is_global=not group
            )
    except InvalidInput as exc:
        return await _entries_refused(request, ctx, form, exc, group or "")
    except NotFound as exc:  # a group gone (or never this project's): said at the group field
        if exc.code != "GROUP_NOT_FOUND":
            raise
        missing = InvalidInput.field("group", "this group no longer exists; choose another", code=exc.code)
        return await _entries_refused(request, ctx, form, missing, "")
    flash(request, f"{count} address{'es' if count != 1 else ''} {'lifted' if lift else 'suppressed'}.")
    return redirect(request, "/suppressions" + Filters(group or "").link(1))


@router.post("/suppressions/entries")
async def add_entries(request: Request, ctx: Page, form: Form):
    return await _entries_change(request, ctx, form, lift=False)


@router.post("/suppressions/entries/remove")
async def remove_entries(request: Request, ctx: Page, form: Form):
    return await _entries_change(request, ctx, form, lift=True)
