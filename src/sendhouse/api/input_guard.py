"""Pure ASGI request gate in front of every route: who is calling, how large the body may be, and
what it may contain, decided in that order, so an unauthenticated body is never read.

1. NUL characters in the path or the query: 400. PostgreSQL text cannot hold NUL while SQLite
   stores it; refusing it at the door gives both databases the same answer.
2. For a request that carries a body, the authenticator of its path (the API key for /v1 and /mcp,
   the dashboard session for /app) runs first and its refusal is the answer (401, login redirect).
3. The body limit of the path (`limit_of`): a declared Content-Length beyond it is 413 before a
   byte is read; a body without Content-Length is read only up to the limit.
4. JSON and form bodies are read (multipart uploads stream to their route): NUL is refused, and
   JSON is parsed once and checked (api/json_body.py; in a thread when large). The MCP endpoint
   answers malformed JSON itself (JSON-RPC errors), so its JSON is only checked for NUL.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import unquote_to_bytes

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sendhouse.api import json_body
from sendhouse.api.envelope import EnvelopeResponse, error_body
from sendhouse.errors import InvalidInput

NUL_MARKS = (b"\x00", b"\\u0000")
FORM = "application/x-www-form-urlencoded"
CHECKED_TYPES = (FORM, "")  # besides JSON; multipart uploads (files) are left alone
NO_BODY_METHODS = ("GET", "HEAD", "OPTIONS")

# an authenticator answers None (go on) or the ASGI response refusing the request
Authenticator = Callable[[Scope], Awaitable[ASGIApp | None]]


def _content_type(scope: Scope) -> str:
    raw = dict(scope["headers"]).get(b"content-type", b"").decode("latin-1")
    return raw.split(";")[0].strip().lower()


def _content_length(scope: Scope) -> int | None:
    length = dict(scope["headers"]).get(b"content-length")
    return int(length) if length is not None and length.isdigit() else None


class RequestGate:
    """Authenticate, bound and check request bodies before any route reads them."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        limit_of: Callable[[str], int],
        authenticators: tuple[tuple[str, Authenticator], ...] = (),
    ):
        self.app = app
        self.limit_of = limit_of
        self.authenticators = authenticators

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if "\x00" in scope["path"] or b"\x00" in unquote_to_bytes(scope.get("query_string", b"")):
            return await _refuse_nul(scope, receive, send, "path or query")
        if scope["method"] in NO_BODY_METHODS:
            return await self.app(scope, receive, send)
        refusal = await self._authenticate(scope)
        if refusal is not None:
            return await refusal(scope, receive, send)
        await self._gate_body(scope, receive, send)

    async def _authenticate(self, scope: Scope) -> ASGIApp | None:
        for prefix, authenticator in self.authenticators:
            if scope["path"].startswith(prefix):
                return await authenticator(scope)
        return None

    async def _gate_body(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit, length, kind = self.limit_of(scope["path"]), _content_length(scope), _content_type(scope)
        if length is not None and length > limit:
            return await _too_large(scope, receive, send)
        is_json = kind == "application/json" or kind.endswith("+json")
        if length is not None and not (is_json or kind in CHECKED_TYPES):
            return await self.app(scope, receive, send)
        body = await _read_bounded(receive, limit)
        if body is None:
            return await _too_large(scope, receive, send)
        text = unquote_to_bytes(body.replace(b"+", b" ")) if kind == FORM else body
        if (is_json or kind in CHECKED_TYPES) and any(mark in text for mark in NUL_MARKS):
            return await _refuse_nul(scope, receive, send, "body")
        encrypted = (dict(scope["headers"]).get(b"x-payload-encryption") or b"").lower() == b"jwe"
        if (
            body and is_json and not scope["path"].startswith("/mcp") and not encrypted
        ):  # JWE: parsed once decrypted
            try:
                scope[json_body.SCOPE_KEY] = await json_body.parse_body(body)
            except InvalidInput as exc:
                return await _refuse_invalid(scope, receive, send, exc)
        await self.app(scope, _replay(body, receive), send)


async def _read_bounded(receive: Receive, max_bytes: int) -> bytes | None:
    """The whole body; None once it passes `max_bytes` (the rest is never read)."""
    chunks, seen = [], 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        seen += len(chunk)
        if seen > max_bytes:
            return None
        chunks.append(chunk)
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


async def _too_large(scope: Scope, receive: Receive, send: Send) -> None:
    body = error_body("Request body too large", "PAYLOAD_TOO_LARGE", 413)
    await EnvelopeResponse(body, status_code=413, headers={"Connection": "close"})(scope, receive, send)


def _validation_code(scope: Scope) -> str:
    """The webhooks pages document VALIDATION_ERROR; everything else is VALIDATION_FAILED."""
    return "VALIDATION_ERROR" if scope["path"].startswith("/v1/webhooks") else "VALIDATION_FAILED"


async def _refuse_invalid(scope: Scope, receive: Receive, send: Send, exc: InvalidInput) -> None:
    body = error_body(exc.message, _validation_code(scope), 400, exc.details)
    await EnvelopeResponse(body, status_code=400)(scope, receive, send)


async def _refuse_nul(scope: Scope, receive: Receive, send: Send, where: str) -> None:
    body = error_body(
        "Validation failed",
        "VALIDATION_FAILED",
        400,
        [{"field": where, "message": "must not contain NUL characters"}],
    )
    await EnvelopeResponse(body, status_code=400)(scope, receive, send)
