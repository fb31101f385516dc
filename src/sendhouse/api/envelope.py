"""AutoSend's response envelope: {success, data, message?} and {success: false, error: {...}}."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response


class EnvelopeResponse(Response):
    """A JSON response rendered with orjson."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS)


def ok(data: Any = None, *, message: str | None = None, status: int = 200, **extra: Any) -> EnvelopeResponse:
    """A success envelope."""
    body: dict[str, Any] = {"success": True}
    if data is not None:
        body["data"] = data
    if message:
        body["message"] = message
    body.update(extra)
    return EnvelopeResponse(body, status_code=status)


def error_body(message: str, code: str, status: int, details: Any = None) -> dict:
    """The error envelope. `message` is also at the top level: AutoSend's SDK (autosendjs) builds
    its error text from `json.message ?? json.error`."""
    error: dict[str, Any] = {"message": message, "code": code, "status": status}
    if details is not None:
        error["details"] = details
    return {"success": False, "message": message, "error": error}
