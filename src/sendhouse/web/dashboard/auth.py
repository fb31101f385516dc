"""Login, logout and the project switcher."""

from __future__ import annotations

from fastapi import APIRouter, Request

from sendhouse.errors import AppError, NotFound
from sendhouse.services import users as user_service
from sendhouse.web.dashboard.common import (
    Form,
    Page,
    container_of,
    problems,
    redirect,
    render,
    status_of,
    text,
)

router = APIRouter()


@router.get("/login")
async def login_page(request: Request):
    return render(request, "dashboard/login.html")


@router.post("/login")
async def login(request: Request, form: Form):
    email = text(form, "email")
    try:
        user = await user_service.login(container_of(request).db, email, str(form.get("password") or ""),
                                        client_ip=request.client.host if request.client else None)
    except AppError as exc:
        return render(request, "dashboard/login.html", status=status_of(exc), errors=problems(exc), email=email)
    request.session.clear()
    request.session["user_id"] = user["id"]
    return redirect(request, "/")


@router.post("/logout")
async def logout(request: Request, _form: Form):
    request.session.clear()
    return redirect(request, "/login")


@router.post("/switch")
async def switch_project(request: Request, ctx: Page, form: Form):
    """Act on another of the user's projects."""
    wanted = text(form, "project_id")
    if wanted not in {p["id"] for p in ctx.projects}:
        raise NotFound("Project not found", code="PROJECT_NOT_FOUND")
    request.session["project_id"] = wanted
    return redirect(request, "/")
