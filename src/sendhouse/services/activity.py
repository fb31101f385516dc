"""Email activity of a whole project over a date range (MCP's get_email_activity_analytics):
what the ledger holds for the mail created in the window and the events recorded in it."""

from __future__ import annotations

from datetime import timedelta

from sendhouse.domain.campaigns import rate
from sendhouse.domain.times import iso, parse_iso, utcnow
from sendhouse.errors import InvalidInput
from sendhouse.store import activity as store
from sendhouse.store.db import Database

DEFAULT_DAYS = 30
MAX_DAYS = 366
KINDS = ("campaign", "transactional")


def _window(start_date: str | None, end_date: str | None) -> tuple:
    end = parse_iso(end_date, field="endDate") if end_date else utcnow()
    start = parse_iso(start_date, field="startDate") if start_date else end - timedelta(days=DEFAULT_DAYS)
    if start >= end:
        raise InvalidInput.field("startDate", "startDate must be before endDate")
    if end - start > timedelta(days=MAX_DAYS):
        raise InvalidInput.field("startDate", f"the range is at most {MAX_DAYS} days")
    return start, end


def _counts(ledger: dict[str, int], events: dict[str, int]) -> dict[str, int]:
    bounced = ledger.get("bounced", 0)
    return {
        "total": sum(ledger.values()),
        "queued": sum(ledger.get(s, 0) for s in ("queued", "sending", "deferred")),
        "sent": ledger.get("sent", 0) + bounced,
        "delivered": ledger.get("sent", 0),
        "bounced": bounced,
        "failed": ledger.get("failed", 0),
        "suppressed": ledger.get("suppressed", 0),
        "cancelled": ledger.get("cancelled", 0),
        "opened": events.get("opened", 0),
        "clicked": events.get("clicked", 0),
        "unsubscribed": events.get("unsubscribed", 0),
        "spamReported": events.get("complained", 0),
    }


def _rates(c: dict[str, int]) -> dict[str, float]:
    return {
        "deliveryRate": rate(c["delivered"], c["sent"]),
        "bounceRate": rate(c["bounced"], c["sent"]),
        "openRate": rate(c["opened"], c["delivered"]),
        "clickRate": rate(c["clicked"], c["delivered"]),
        "complaintRate": rate(c["spamReported"], c["delivered"]),
    }


async def email_activity(
    db: Database,
    project_id: str,
    *,
    start_date: str | None = None,
    end_date: str | None = None,
    kind: str | None = None,
) -> dict:
    """Counts and rates of the project's mail in [startDate, endDate) (default: the last 30 days)."""
    if kind is not None and kind not in KINDS:
        raise InvalidInput.field("kind", f"kind must be one of: {', '.join(KINDS)}")
    start, end = _window(start_date, end_date)
    async with db.read() as conn:
        ledger = await store.ledger_counts(conn, project_id, start, end, kind)
        events = await store.event_counts(conn, project_id, start, end, kind)
    counts = _counts(ledger, events)
    return {
        "startDate": iso(start),
        "endDate": iso(end),
        "kind": kind or "all",
        "counts": counts,
        "rates": _rates(counts),
    }
