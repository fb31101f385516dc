"""Pure ASGI middleware: the request-body size limit and the X-RateLimit-* response headers."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sendhouse.api.envelope import EnvelopeResponse, error_body


class BodyLimitMiddleware:
    """Refuse bodies over `max_bytes` with 413 in the envelope (by Content-Length, or while reading)."""

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            return await _too_large(scope, receive, send)
        if length is not None or scope["method"] in ("GET", "HEAD", "DELETE", "OPTIONS"):
            return await self.app(scope, receive, send)
        body = await _read_bounded(receive, self.max_bytes)
        if body is None:
            return await _too_large(scope, receive, send)
        await self.app(scope, _replay(body), send)


async def _read_bounded(receive: Receive, max_bytes: int) -> bytes | None:
    """Read a body sent without Content-Length; None once it passes `max_bytes`."""
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


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


async def _too_large(scope: Scope, receive: Receive, send: Send) -> None:
    body = error_body("Request body too large", "PAYLOAD_TOO_LARGE", 413)
    await EnvelopeResponse(body, status_code=413, headers={"Connection": "close"})(scope, receive, send)


class RateLimitHeadersMiddleware:
    """Copy the rate-limit verdict the auth dependency left in request.state onto the response."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message: Message) -> None:
            verdict = scope.get("state", {}).get("rate_limit")
            if message["type"] == "http.response.start" and verdict is not None:
                headers = list(message.get("headers", []))
                headers += [
                    (b"x-ratelimit-limit", str(verdict.limit).encode()),
                    (b"x-ratelimit-remaining", str(verdict.remaining).encode()),
                    (b"x-ratelimit-reset", str(verdict.reset_epoch).encode()),
                ]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
