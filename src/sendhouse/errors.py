"""The one error tree. Services and the domain raise these; STATUS_BY_ERROR (status_of) is the one
table from error class to HTTP status, used by the API (api/errors.py), the dashboard and the
public pages.

Each error carries an AutoSend-style `code` (UPPER_SNAKE), a human message and optional details.
The class docstring is the default message.
"""

from __future__ import annotations

from typing import Any


class AppError(Exception):
    """Something went wrong."""

    code = "INTERNAL_SERVER_ERROR"

    def __init__(self, message: str | None = None, *, code: str | None = None, details: Any = None):
        self.message = message or (self.__doc__ or "").strip()
        if code:
            self.code = code
        self.details = details
        super().__init__(self.message)


class InvalidInput(AppError):
    """Validation failed"""

    code = "VALIDATION_FAILED"

    @classmethod
    def field(cls, field: str, message: str, *, code: str | None = None) -> InvalidInput:
        """One bad field, reported as AutoSend's details list."""
        return cls("Validation failed", code=code, details=[{"field": field, "message": message}])


class InvalidOperation(AppError):
    """The request is well-formed but cannot be carried out (a 400 with a specific code)."""

    code = "BAD_REQUEST"


class Unauthorized(AppError):
    """Unauthorized"""

    code = "UNAUTHORIZED"


class Forbidden(AppError):
    """Insufficient permissions to access these resources."""

    code = "INSUFFICIENT_PERMISSIONS"


class NotFound(AppError):
    """The requested resource was not found."""

    code = "NOT_FOUND"


class Conflict(AppError):
    """The resource is not in a state that allows this, or already exists."""

    code = "CONFLICT"


class PayloadTooLarge(AppError):
    """Request body too large"""

    code = "PAYLOAD_TOO_LARGE"


class RateLimited(AppError):
    """Rate limit exceeded"""

    code = "RATE_LIMIT_EXCEEDED"

    def __init__(self, retry_after: int, message: str | None = None):
        super().__init__(message)
        self.retry_after = retry_after


STATUS_BY_ERROR: list[tuple[type[AppError], int]] = [
    (InvalidInput, 400),
    (InvalidOperation, 400),
    (Unauthorized, 401),
    (Forbidden, 403),
    (NotFound, 404),
    (Conflict, 409),
    (PayloadTooLarge, 413),
    (RateLimited, 429),
]


def status_of(error: AppError) -> int:
    """The HTTP status of an error (500 for any other AppError)."""
    for cls, status in STATUS_BY_ERROR:
        if isinstance(error, cls):
            return status
    return 500
