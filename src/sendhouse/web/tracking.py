"""Public endpoints on the public URL (no API key: the signed token is the credential).

- GET /t/o/{token}: the open pixel. Always a 1×1 GIF with no-cache headers, whatever happens;
  a genuine token's open is handed to the Recorder (services/tracking.py), which writes in batches.
- GET /t/c/{token}: 302 to the URL signed into the token, and only that one (no open redirect);
  a tampered or foreign token is 404 and records nothing.
  Both are served by TrackingEndpoints, a pure ASGI layer in front of routing (app.py adds it).
- GET /u/{token}: a confirm page (link scanners send GETs, so a GET changes nothing).
- POST /u/{token} with List-Unsubscribe=One-Click (RFC 8058; the confirm form sends the same):
  unsubscribes at once.
- GET/POST /u/p/{token}: the preference page, with unsubscribe and resubscribe per group.
The router's lifespan runs the Recorder for the life of the app and flushes it on shutdown.
"""

from __future__ import annotations

import base64
import gc
import logging
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import jinja2
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from sendhouse.domain import tokens
from sendhouse.domain.emails import key_of
from sendhouse.domain.times import utcnow
from sendhouse.domain.urls import ascii_url
from sendhouse.errors import AppError, status_of
from sendhouse.services import unsubscribe as service
from sendhouse.services.tracking import Hit, Recorder, recorder_part

log = logging.getLogger("sendhouse.web")
GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
NO_CACHE = {
    "Cache-Control": "no-cache, no-store, must-revalidate, max-age=0",
    "Pragma": "no-cache",
    "Expires": "0",
}
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "X-Robots-Tag": "noindex",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
}
_PAGES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)


@dataclass
class TrackingState:
    """What the public endpoints share: the signing secret and the hit recorder."""

    secret: str
    recorder: Recorder


@asynccontextmanager
async def lifespan(app):
    container = app.state.container
    settings = container.settings
    gc.freeze()  # everything loaded at start-up stays out of collections: no full-heap pauses under load
    async with recorder_part(container.db, automated_window=settings.automated_open_window) as recorder:
        app.state.tracking = TrackingState(settings.resolved_secret_key(), recorder)
        yield


router = APIRouter(include_in_schema=False, lifespan=lifespan)


def _state(request: Request) -> TrackingState:
    return request.app.state.tracking


def open_hit(state: TrackingState | None, token: str) -> None:
    """Hand a genuine open token's hit to the recorder; never raises (the pixel is always answered)."""
    if state is None:
        log.error("open pixel not recorded: tracking is not running")
        return
    try:
        row_id = tokens.verify_open(state.secret, token)
        if row_id is not None:
            state.recorder.add(Hit(row_id, utcnow()))
    except Exception:
        log.exception("open pixel not recorded")


def click_target(state: TrackingState | None, token: str) -> str | None:
    """The URL a genuine click token may redirect to (its hit handed to the recorder), else None."""
    target = tokens.verify_click(state.secret, token) if state is not None else None
    if state is None or target is None or not target.url.lower().startswith(("https://", "http://")):
        return None
    url = ascii_url(target.url)  # tokens signed before links were signed in ASCII
    try:
        state.recorder.add(Hit(target.message_id, utcnow(), url=url))
    except Exception:
        log.exception("click not recorded")
    return url


_RAW_NO_CACHE = [(k.lower().encode(), v.encode()) for k, v in NO_CACHE.items()]
_PIXEL_HEADERS = [
    (b"content-type", b"image/gif"),
    (b"content-length", str(len(GIF)).encode()),
    *_RAW_NO_CACHE,
]
_NOT_FOUND_HEADERS = [
    (b"content-type", b"text/plain; charset=utf-8"),
    (b"content-length", b"9"),
    *_RAW_NO_CACHE,
]


class TrackingEndpoints:
    """Pure ASGI, outermost: answers GET/HEAD /t/o/{token} and /t/c/{token} before routing and the API's
    middleware (request logs, rate-limit headers), since they are hit once per open and click."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if scope.get("method") not in ("GET", "HEAD") or not path.startswith(("/t/o/", "/t/c/")):
            return await self.app(scope, receive, send)
        state = getattr(scope["app"].state, "tracking", None)
        token, body = path[5:], scope["method"] == "GET"
        if path.startswith(tokens.OPEN_PATH):
            open_hit(state, token)
            return await _answer(send, 200, _PIXEL_HEADERS, GIF if body else b"")
        url = click_target(state, token)
        if url is None:
            return await _answer(send, 404, _NOT_FOUND_HEADERS, b"Not found" if body else b"")
        location = [(b"location", url.encode("ascii")), (b"content-length", b"0"), *_RAW_NO_CACHE]
        await _answer(send, 302, location, b"")


async def _answer(send, status: int, headers: list, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


# --- unsubscribe and preferences ------------------------------------------------------------


def _page(name: str, status: int = 200, **context) -> HTMLResponse:
    return HTMLResponse(_PAGES.get_template(name).render(**context), status_code=status, headers=PAGE_HEADERS)


def _invalid(status: int = 404, message: str = "This link is not valid or has expired.") -> HTMLResponse:
    return _page("unsubscribe_invalid.html", status, title="Link not valid", message=message)


def _target(request: Request, token: str, kind: str) -> tokens.UnsubscribeTarget | None:
    verify = tokens.verify_unsubscribe if kind == "unsubscribe" else tokens.verify_preference
    found = verify(_state(request).secret, token)
    return replace(found, email=key_of(found.email)) if found else None


def _preference_url(request: Request, target: tokens.UnsubscribeTarget) -> str:
    return tokens.PREFERENCE_PATH + tokens.sign_preference(_state(request).secret, target)


@router.get(tokens.PREFERENCE_PATH + "{token}")
async def preference_page(token: str, request: Request) -> HTMLResponse:
    target = _target(request, token, "preference")
    if target is None:
        return _invalid()
    found = await service.preferences(request.app.state.container.db, target)
    return _page("unsubscribe_preferences.html", action=tokens.PREFERENCE_PATH + token, notice=None, **found)


@router.post(tokens.PREFERENCE_PATH + "{token}")
async def preference_change(token: str, request: Request) -> HTMLResponse:
    target = _target(request, token, "preference")
    if target is None:
        return _invalid()
    form = await request.form()
    db = request.app.state.container.db
    try:
        done = await service.set_preference(
            db, target, action=str(form.get("action", "")), group_code=str(form.get("groupId", ""))
        )
    except AppError as error:
        return _invalid(status_of(error), error.message)
    verb = "unsubscribed from" if form.get("action") == "unsubscribe" else "resubscribed to"
    notice = f"You are {verb} {done['group']['name']}." if done["changed"] else "Nothing to change."
    found = await service.preferences(db, target)
    return _page(
        "unsubscribe_preferences.html", action=tokens.PREFERENCE_PATH + token, notice=notice, **found
    )


@router.get(tokens.UNSUBSCRIBE_PATH + "{token}")
async def unsubscribe_page(token: str, request: Request) -> HTMLResponse:
    target = _target(request, token, "unsubscribe")
    if target is None:
        return _invalid()
    group = await _group_of(request, target)
    return _page(
        "unsubscribe.html",
        email=target.email,
        group=group,
        action=tokens.UNSUBSCRIBE_PATH + token,
        preferences=_preference_url(request, target),
    )


async def _group_of(request: Request, target: tokens.UnsubscribeTarget) -> dict | None:
    found = await service.preferences(request.app.state.container.db, target)
    return next((g for g in found["groups"] if g["groupId"] == target.group), None)


@router.post(tokens.UNSUBSCRIBE_PATH + "{token}")
async def unsubscribe_now(token: str, request: Request) -> HTMLResponse:
    """RFC 8058 one-click: the body must carry List-Unsubscribe=One-Click."""
    target = _target(request, token, "unsubscribe")
    if target is None:
        return _invalid()
    form = await request.form()
    if form.get("List-Unsubscribe") != "One-Click":
        return _invalid(400, "The request must carry List-Unsubscribe=One-Click.")
    try:
        done = await service.unsubscribe(request.app.state.container.db, target)
    except AppError as error:
        return _invalid(status_of(error), error.message)
    return _page(
        "unsubscribe_done.html",
        email=target.email,
        group=done["group"],
        preferences=_preference_url(request, target),
    )
