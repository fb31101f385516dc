"""The Users page: the project's members, inviting someone by email, resetting a member's
password and removing a member. A generated password is shown once, on the page that made it."""

from __future__ import annotations

from fastapi import APIRouter, Request

from sendhouse.errors import AppError, status_of
from sendhouse.services import members as service
from sendhouse.web.dashboard.common import Ctx, Form, Page, flash, problems, redirect, render, text
from sendhouse.web.dashboard.field_errors import refused

router = APIRouter()


async def _page(request: Request, ctx: Ctx, *, status: int = 200, **extra):
    found = await service.list_members(ctx.db, ctx.project_id)
    return render(request, "dashboard/users.html", ctx, status=status, members=found, **extra)


@router.get("/users")
async def users_page(request: Request, ctx: Page):
    return await _page(request, ctx)


@router.post("/users")
async def invite(request: Request, ctx: Page, form: Form):
    try:
        user, password = await service.invite(ctx.db, ctx.project_id, text(form, "email"))
    except AppError as exc:
        return await _page(request, ctx, status=status_of(exc), values=dict(form), **refused(exc))
    if password is None:
        flash(request, f"{user['email']} already had a login and now belongs to this project too.")
        return redirect(request, "/users")
    return await _page(request, ctx, secret={"email": user["email"], "password": password, "new": True})


@router.post("/users/{user_id}/reset-password")
async def reset_password(request: Request, ctx: Page, _form: Form, user_id: str):
    member, password = await service.reset_password(ctx.db, ctx.project_id, user_id)
    return await _page(request, ctx, secret={"email": member["email"], "password": password, "new": False})


@router.post("/users/{user_id}/remove")
async def remove(request: Request, ctx: Page, _form: Form, user_id: str):
    try:
        member = await service.remove(ctx.db, ctx.project_id, user_id, acting_user_id=ctx.user["id"])
    except AppError as exc:
        if status_of(exc) == 404:
            raise
        flash(request, " — ".join(problems(exc)), "error")
        return redirect(request, "/users")
    flash(request, f"{member['email']} no longer belongs to this project.")
    return redirect(request, "/users")
