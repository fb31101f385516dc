"""Dashboard sessions as the request gate sees them, before the dashboard app reads any form.

The session lives in a cookie signed with the secret key (Starlette SessionMiddleware's format:
base64 JSON under an itsdangerous timestamp signature). A POST to the dashboard other than the
login form needs a session holding a user; otherwise it is sent to the login page unread.
"""

from __future__ import annotations

import binascii
import json
from base64 import b64decode

import itsdangerous
from starlette.requests import HTTPConnection
from starlette.responses import RedirectResponse

MOUNT_PATH = "/app"
SESSION_COOKIE = "sendhouse_session"
SESSION_MAX_AGE = 14 * 24 * 3600
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


def session_gate(secret: str):
    """The request gate's authenticator of the dashboard (see the module docstring)."""

    async def check(scope):
        if scope["path"] in OPEN_POSTS or cookie_session(scope, secret).get("user_id"):
            return None
        return RedirectResponse(MOUNT_PATH + "/login", status_code=303)

    return check
