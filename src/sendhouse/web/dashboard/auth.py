"""Login, logout, the password change page and the project switcher."""

from __future__ import annotations

from fastapi import APIRouter, Request

from sendhouse.errors import AppError, InvalidInput, NotFound, status_of
from sendhouse.services import sessions as session_service
from sendhouse.services import users as user_service
from sendhouse.web.dashboard.common import (
    Form,
    Page,
    container_of,
    flash,
    problems,
    redirect,
    render,
    text,
)
from sendhouse.web.dashboard.field_errors import refused
from sendhouse.web.dashboard.sessions import SESSION_KEY

router = APIRouter()
# The service checks the new password under the API's name; a wrong current password has no details.
PASSWORD_NAMES = {"password": "new_password"}
PASSWORD_CODES = {"INVALID_CREDENTIALS": "password"}


@router.get("/login")
async def login_page(request: Request):
    return render(request, "dashboard/login.html")


@router.post("/login")
async def login(request: Request, form: Form):
    email, db = text(form, "email"), container_of(request).db
    try:
        user = await user_service.login(
            db,
            email,
            str(form.get("password") or ""),
            client_ip=request.client.host if request.client else None,
        )
    except AppError as exc:
        return render(
            request,
            "dashboard/login.html",
            status=status_of(exc),
            errors=problems(exc),
            email=email,
            wrong=exc.code == "INVALID_CREDENTIALS",
        )
    request.session.clear()
    request.session[SESSION_KEY] = await session_service.start(db, user["id"])
    return redirect(request, "/")


@router.post("/logout")
async def logout(request: Request, _form: Form):
    await session_service.end(container_of(request).db, request.session.get(SESSION_KEY))
    request.session.clear()
    return redirect(request, "/login")


@router.get("/account/password")
async def password_page(request: Request, ctx: Page):
    return render(request, "dashboard/password.html", ctx)


@router.post("/account/password")
async def change_password(request: Request, ctx: Page, form: Form):
    new = str(form.get("new_password") or "")
    try:
        if new != str(form.get("confirm_password") or ""):
            raise InvalidInput.field("confirm_password", "the two new passwords differ")
        token = await session_service.change_password(
            ctx.db, ctx.user["id"], str(form.get("password") or ""), new
        )
    except AppError as exc:
        shown = refused(exc, PASSWORD_NAMES, PASSWORD_CODES)
        return render(request, "dashboard/password.html", ctx, status=status_of(exc), **shown)
    request.session[SESSION_KEY] = token
    flash(request, "Password changed. Every other session of your account was logged out.")
    return redirect(request, "/")


@router.post("/switch")
async def switch_project(request: Request, ctx: Page, form: Form):
    """Act on another of the user's projects."""
    wanted = text(form, "project_id")
    if wanted not in {p["id"] for p in ctx.projects}:
        raise NotFound("Project not found", code="PROJECT_NOT_FOUND")
    request.session["project_id"] = wanted
    return redirect(request, "/")
