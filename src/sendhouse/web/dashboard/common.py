"""Shared parts of the dashboard: Jinja2 templates, the logged-in user and current project,
CSRF tokens, rendering pages, flash messages and turning sendhouse.errors into page messages."""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from markupsafe import Markup
from starlette.datastructures import FormData

from sendhouse.bootstrap import Container
from sendhouse.domain import wording
from sendhouse.errors import AppError, NotFound
from sendhouse.services import sessions as session_service
from sendhouse.services import users as user_service
from sendhouse.web.dashboard import navigation
from sendhouse.web.dashboard.sessions import SESSION_KEY

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).resolve().parent.parent / "templates"))
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


class LoginRequired(Exception):
    """No valid session: the handler redirects to the login page."""


class CsrfRefused(Exception):
    """A form arrived without the session's CSRF token."""


@dataclass
class Ctx:
    """One dashboard request: who is logged in and which of their projects they act on."""

    request: Request
    container: Container
    user: dict
    projects: list[dict]
    project: dict | None

    @property
    def db(self):
        return self.container.db

    @property
    def settings(self):
        return self.container.settings

    @property
    def project_id(self) -> str:
        if self.project is None:
            raise NotFound("You are not a member of any project yet", code="NO_PROJECT")
        return self.project["id"]


def container_of(request: Request) -> Container:
    return request.app.state.container


def base(request: Request) -> str:
    """The path the dashboard is mounted at (e.g. /app)."""
    return request.scope.get("root_path", "").rstrip("/")


async def current(request: Request) -> Ctx:
    """The session's user and project, or LoginRequired (no session, or one revoked on the server)."""
    container = container_of(request)
    user_id = await session_service.user_id_of(container.db, request.session.get(SESSION_KEY))
    user = await user_service.get_user(container.db, user_id) if user_id else None
    if user is None:
        request.session.clear()
        raise LoginRequired()
    projects = await user_service.user_projects(container.db, user["id"])
    chosen = request.session.get("project_id")
    project = next((p for p in projects if p["id"] == chosen), projects[0] if projects else None)
    return Ctx(request, container, user, projects, project)


Page = Annotated[Ctx, Depends(current)]


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not token:
        token = request.session["csrf"] = secrets.token_urlsafe(32)
    return token


async def checked_form(request: Request) -> FormData:
    """The posted form, after checking its CSRF token (form field or X-CSRF-Token header)."""
    form = await request.form(max_part_size=50 * 1024 * 1024)
    given = str(form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER) or "")
    expected = request.session.get("csrf") or ""
    if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
        raise CsrfRefused()
    return form


Form = Annotated[FormData, Depends(checked_form)]


def render(
    request: Request, name: str, ctx: Ctx | None = None, *, status: int = 200, **context: Any
) -> Response:
    """A template with the page's context. A whole page shows (and uses up) the flash messages; a
    part (its name starts with _, polled or swapped in by htmx) leaves them for the next page, so a
    poll answered while the browser follows a redirect does not swallow the message."""
    whole_page = not name.rsplit("/", 1)[-1].startswith("_")
    flashes = request.session.pop("flash", []) if whole_page and "flash" in request.session else []
    here = request.url.path.removeprefix(base(request))
    values = {
        "ctx": ctx,
        "csrf": csrf_token(request),
        "base": base(request),
        "flashes": flashes,
        "nav": navigation.menu(here),
        "field_errors": {},
        **context,
    }
    return TEMPLATES.TemplateResponse(request, name, values, status_code=status)


def flash(request: Request, message: str, kind: str = "ok") -> None:
    request.session["flash"] = [*request.session.get("flash", []), {"kind": kind, "message": message}]


def redirect(request: Request, path: str) -> Response:
    """303 to a dashboard path (HX-Redirect for htmx requests)."""
    url = base(request) + path
    if request.headers.get("hx-request"):
        return Response(status_code=204, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)


def problems(exc: AppError) -> list[str]:
    """An error as sentences for people: its message (left out when it only says "Validation
    failed") and each detail with the field's label instead of its API path."""
    details = exc.details if isinstance(exc.details, list) else []
    lines = detail_lines(details)
    if exc.message != "Validation failed" or not lines:
        lines.insert(0, wording.rephrase(exc.message))
    if isinstance(exc.details, str):
        lines.append(exc.details)
    return lines


def detail_lines(details: list) -> list[str]:
    """AutoSend's [{field, message}] details as sentences with form labels."""
    return wording.human_lines(details)


def text(form: FormData, name: str) -> str:
    return str(form.get(name) or "").strip()


def optional(form: FormData, name: str) -> str | None:
    return text(form, name) or None


def _number(value: Any) -> str:
    """1234567 → 1,234,567; a float keeps one decimal."""
    if isinstance(value, float):
        return f"{value:,.1f}"
    return f"{value:,}" if isinstance(value, int) else str(value if value is not None else "")


def _when(value: Any) -> Markup:
    """An ISO timestamp as a readable UTC date in a <time> element (the page script shows it in
    the viewer's own time zone)."""
    if not value:
        return Markup("—")
    at = datetime.fromisoformat(str(value)).astimezone(UTC)
    return Markup('<time datetime="{}" data-local>{}</time>').format(
        at.isoformat(), at.strftime("%d %b %Y, %H:%M UTC")
    )


TEMPLATES.env.filters["num"] = _number
TEMPLATES.env.filters["when"] = _when
TEMPLATES.env.filters["words"] = wording.status_words
TEMPLATES.env.filters["trigger"] = wording.trigger_words
