"""Dashboard sessions as the request gate sees them, before the dashboard app reads any form.

The cookie is signed with the secret key (Starlette SessionMiddleware's format: base64 JSON under
an itsdangerous timestamp signature) and carries the token of a server-side session
(services/sessions.py). A POST to the dashboard other than the login form needs a live session;
otherwise it is sent to the login page unread.
"""

from __future__ import annotations

import binascii
import json
from base64 import b64decode

import itsdangerous
from starlette.requests import HTTPConnection
from starlette.responses import RedirectResponse

from sendhouse.services import sessions as session_service
from sendhouse.store.db import Database

MOUNT_PATH = "/app"
SESSION_COOKIE = "sendhouse_session"
SESSION_MAX_AGE = 14 * 24 * 3600
SESSION_KEY = "sid"
OPEN_POSTS = (MOUNT_PATH + "/login",)


def cookie_session(scope, secret: str) -> dict:
    """The session a request's cookie carries, or {} when it has none or a forged or stale one."""
    raw = HTTPConnection(scope).cookies.get(SESSION_COOKIE)
    if not raw:
        return {}
    try:
        data = itsdangerous.TimestampSigner(secret).unsign(raw.encode(), max_age=SESSION_MAX_AGE)
        session = json.loads(b64decode(data))
    except (itsdangerous.BadSignature, binascii.Error, ValueError):
        return {}
    return session if isinstance(session, dict) else {}


def session_gate(db: Database, secret: str):
    """The request gate's authenticator of the dashboard (see the module docstring)."""

    async def check(scope):
        if scope["path"] in OPEN_POSTS:
            return None
        if await session_service.user_id_of(db, cookie_session(scope, secret).get(SESSION_KEY)):
            return None
        return RedirectResponse(MOUNT_PATH + "/login", status_code=303)

    return check
