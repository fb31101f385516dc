"""Pure ASGI guard: refuse NUL characters in a request's path, query, JSON or form body with 400,
and parse and check JSON bodies once (api/json_body.py) before any route sees them.

PostgreSQL text cannot hold NUL (psycopg raises DataError, which was a 500) while SQLite stores it;
refusing it at the door gives both databases the same answer and keeps NUL out of mail headers.
The MCP endpoint answers malformed JSON itself (JSON-RPC errors), so its JSON is only checked for NUL.
"""

from __future__ import annotations

from urllib.parse import unquote_to_bytes

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sendhouse.api import json_body
from sendhouse.api.envelope import EnvelopeResponse, error_body
from sendhouse.errors import InvalidInput

NUL_MARKS = (b"\x00", b"\\u0000")
FORM = "application/x-www-form-urlencoded"
CHECKED_TYPES = ("application/json", FORM, "")  # multipart uploads (files) are left alone


def _content_type(scope: Scope) -> str:
    raw = dict(scope["headers"]).get(b"content-type", b"").decode("latin-1")
    return raw.split(";")[0].strip().lower()


class NulGuardMiddleware:
    """400 VALIDATION_FAILED for a NUL in the path, the query string or the body."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if "\x00" in scope["path"] or b"\x00" in unquote_to_bytes(scope.get("query_string", b"")):
            return await _refuse(scope, receive, send, "path or query")
        kind = _content_type(scope)
        is_json = kind == "application/json" or kind.endswith("+json")
        if scope["method"] in ("GET", "HEAD", "OPTIONS") or not (is_json or kind in CHECKED_TYPES):
            return await self.app(scope, receive, send)
        body = await _read(receive)
        text = unquote_to_bytes(body.replace(b"+", b" ")) if kind == FORM else body
        if any(mark in text for mark in NUL_MARKS):
            return await _refuse(scope, receive, send, "body")
        if body and is_json and not scope["path"].startswith("/mcp"):
            try:
                scope[json_body.SCOPE_KEY] = await json_body.parse_body(body)
            except InvalidInput as exc:
                return await _refuse_invalid(scope, receive, send, exc)
        await self.app(scope, _replay(body, receive), send)


async def _read(receive: Receive) -> bytes:
    """The whole body (its size is already bounded by BodyLimitMiddleware, outside this one)."""
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """The body once, then the real channel (so streaming responses still see the real disconnect)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


def _validation_code(scope: Scope) -> str:
    """The webhooks pages document VALIDATION_ERROR; everything else is VALIDATION_FAILED."""
    return "VALIDATION_ERROR" if scope["path"].startswith("/v1/webhooks") else "VALIDATION_FAILED"


async def _refuse_invalid(scope: Scope, receive: Receive, send: Send, exc: InvalidInput) -> None:
    body = error_body(exc.message, _validation_code(scope), 400, exc.details)
    await EnvelopeResponse(body, status_code=400)(scope, receive, send)


async def _refuse(scope: Scope, receive: Receive, send: Send, where: str) -> None:
    body = error_body("Validation failed", "VALIDATION_FAILED", 400,
                      [{"field": where, "message": "must not contain NUL characters"}])
    await EnvelopeResponse(body, status_code=400)(scope, receive, send)
