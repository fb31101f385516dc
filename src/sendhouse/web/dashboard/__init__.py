"""The dashboard: a FastAPI sub-application (Jinja2 pages + htmx) mounted inside `sendhouse serve`.

The session cookie is signed with the secret key (Starlette SessionMiddleware), `Secure` when the
public URL is https, and names a server-side session (services/sessions.py) that logout and a
password change revoke; every form carries the session's CSRF token. Pages call the same services
as the API and show their errors.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse
from starlette.middleware.sessions import SessionMiddleware
from starlette.staticfiles import StaticFiles

from sendhouse.bootstrap import Container
from sendhouse.errors import AppError, status_of
from sendhouse.web.dashboard import (
    audience,
    auth,
    automation_pages,
    campaigns,
    contact_pages,
    content,
    inbox,
    outbox,
    overview,
    property_pages,
    segment_pages,
    sender_pages,
    settings_pages,
    suppression_pages,
    user_pages,
)
from sendhouse.web.dashboard.common import (
    CsrfRefused,
    LoginRequired,
    base,
    problems,
    redirect,
    render,
)
from sendhouse.web.dashboard.sessions import MOUNT_PATH, SESSION_COOKIE, SESSION_MAX_AGE

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"


def _install_handlers(app: FastAPI) -> None:
    @app.exception_handler(LoginRequired)
    async def _login(request: Request, _exc: LoginRequired):
        return redirect(request, "/login")

    @app.exception_handler(CsrfRefused)
    async def _csrf(request: Request, _exc: CsrfRefused):
        return render(
            request,
            "dashboard/error.html",
            status=403,
            lines=["The form was refused: its security token is missing or stale. Reload the page."],
        )

    @app.exception_handler(AppError)
    async def _app_error(request: Request, exc: AppError):
        return render(request, "dashboard/error.html", status=status_of(exc), lines=problems(exc))


def create_dashboard(container: Container) -> FastAPI:
    """The dashboard application (mount it with mount_dashboard)."""
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    app.state.container = container
    _install_handlers(app)
    for module in (
        auth,
        campaigns,
        automation_pages,
        contact_pages,
        audience,
        content,
        suppression_pages,
        sender_pages,
        settings_pages,
        outbox,
        inbox,
        overview,
        property_pages,
        segment_pages,
        user_pages,
    ):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.add_middleware(
        SessionMiddleware,
        secret_key=container.settings.resolved_secret_key(),
        session_cookie=SESSION_COOKIE,
        max_age=SESSION_MAX_AGE,
        same_site="lax",
        https_only=container.settings.public_url.lower().startswith("https://"),
    )
    return app


def mount_dashboard(app: FastAPI, container: Container) -> None:
    """Serve the dashboard at /app, and send / there (and /favicon.ico to its icon)."""
    app.mount(MOUNT_PATH, create_dashboard(container))

    @app.get("/", include_in_schema=False)
    async def _root() -> RedirectResponse:
        return RedirectResponse(MOUNT_PATH + "/", status_code=307)

    @app.get("/favicon.ico", include_in_schema=False)
    async def _favicon() -> RedirectResponse:
        return RedirectResponse(MOUNT_PATH + "/static/favicon.svg", status_code=308)


__all__ = ["MOUNT_PATH", "base", "create_dashboard", "mount_dashboard"]
