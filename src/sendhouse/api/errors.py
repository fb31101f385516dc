"""The handlers that render every error as the API's envelope (statuses: errors.status_of)."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from sendhouse import errors
from sendhouse.api.envelope import EnvelopeResponse, error_body

log = logging.getLogger("sendhouse.api")
HTTP_CODES = {
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    401: "UNAUTHORIZED",
    403: "INSUFFICIENT_PERMISSIONS",
}


def render_app_error(error: errors.AppError) -> EnvelopeResponse:
    status = errors.status_of(error)
    body = error_body(error.message, error.code, status, error.details)
    headers = {}
    if isinstance(error, errors.RateLimited):
        body["error"]["retryAfter"] = error.retry_after
        body["retryAfter"] = error.retry_after
        headers["Retry-After"] = str(error.retry_after)
    if isinstance(error, errors.Unauthorized):
        headers["WWW-Authenticate"] = "Bearer"
    return EnvelopeResponse(body, status_code=status, headers=headers)


def _field_name(loc: tuple) -> str:
    """A validation error's location as the API's field path: `recipients[1].email`."""
    parts = loc[1:] if loc and loc[0] in ("body", "query", "path", "header") else loc
    path = ""
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else f".{part}" if path else str(part)
    return path or "body"


def validation_details(exc: RequestValidationError) -> list[dict]:
    return [
        {"field": _field_name(tuple(e.get("loc", ()))), "message": e.get("msg", "invalid")}
        for e in exc.errors()
    ]


def install(app: FastAPI) -> None:
    """Register the handlers that turn every error into the envelope."""

    @app.exception_handler(errors.AppError)
    async def _app_error(_request: Request, exc: errors.AppError) -> EnvelopeResponse:
        if errors.status_of(exc) == 500:
            log.error("unhandled app error", exc_info=exc, extra={"action": "api_error"})
        return render_app_error(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> EnvelopeResponse:
        body = error_body("Validation failed", "VALIDATION_FAILED", 400, validation_details(exc))
        return EnvelopeResponse(body, status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> EnvelopeResponse:
        code = HTTP_CODES.get(exc.status_code, "HTTP_ERROR")
        message = exc.detail if isinstance(exc.detail, str) else "Error"
        return EnvelopeResponse(error_body(message, code, exc.status_code), status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> EnvelopeResponse:
        log.error("unhandled error", exc_info=exc, extra={"action": "api_error"})
        body = error_body("Something went wrong on our end", "INTERNAL_SERVER_ERROR", 500)
        return EnvelopeResponse(body, status_code=500)
