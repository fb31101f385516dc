"""Pure ASGI middleware: the X-RateLimit-* response headers (body limits live in api/input_guard.py)."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send


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
