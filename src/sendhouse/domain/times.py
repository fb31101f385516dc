"""Time helpers: ISO 8601 formatting and parsing, always timezone-aware UTC."""

from __future__ import annotations

from datetime import UTC, datetime

from sendhouse.errors import InvalidInput


def iso(value: datetime | None) -> str | None:
    """AutoSend's timestamp format: ISO 8601 in UTC with milliseconds and a Z."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="milliseconds")[:-6] + "Z"  # "+00:00" -> "Z"


def parse_iso(value: str, *, field: str) -> datetime:
    """Parse an ISO 8601 date-time; one without an offset is taken as UTC."""
    try:
        parsed = datetime.fromisoformat(value.strip())
    except (ValueError, AttributeError):
        raise InvalidInput.field(field, "must be an ISO 8601 date-time") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)
