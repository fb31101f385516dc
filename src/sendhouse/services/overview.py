"""The overview page: recent campaigns with their sent count and open and click rates, audience
growth, bounces and complaints of the last 30 days, and what needs attention (unverified
domains, campaigns Sendhouse paused itself)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sendhouse.domain import campaigns as rules
from sendhouse.domain.filters import CampaignFilter
from sendhouse.domain.pagination import Page
from sendhouse.domain.times import iso, utcnow
from sendhouse.services import campaigns as campaign_service
from sendhouse.store import overview as store
from sendhouse.store.db import Database

WINDOW_DAYS = 30
RECENT = 5


def campaign_rates(item: dict) -> dict:
    """Sent, opened and clicked of a listed campaign with the open and click rates (of delivered)."""
    found = item.get("metrics") or {}
    delivered = found.get("delivered", 0)
    return {
        "sent": found.get("sent", 0),
        "opened": found.get("opened", 0),
        "clicked": found.get("clicked", 0),
        "openRate": rules.rate(found.get("opened", 0), delivered),
        "clickRate": rules.rate(found.get("clicked", 0), delivered),
    }


async def recent_campaigns(db: Database, project_id: str, size: int = RECENT) -> list[dict]:
    found = await campaign_service.list_campaigns(
        db, project_id, CampaignFilter(), Page(1, size), include_counts=True
    )
    return [{**c, "numbers": campaign_rates(c)} for c in found["campaigns"]]


async def _growth(conn, project_id: str, now: datetime) -> dict:
    """Contacts now, added in the window, and added per week (oldest week first)."""
    weeks = []
    for back in range(4, 0, -1):
        start, end = now - timedelta(days=7 * back), now - timedelta(days=7 * (back - 1))
        weeks.append(
            {"start": iso(start), "added": await store.contacts_between(conn, project_id, start, end)}
        )
    since = now - timedelta(days=WINDOW_DAYS)
    return {
        "total": await store.contacts_between(conn, project_id, None, now),
        "added": await store.contacts_between(conn, project_id, since, now),
        "weeks": weeks,
    }


async def overview(db: Database, project_id: str) -> dict:
    now = utcnow()
    recent = await recent_campaigns(db, project_id)
    async with db.read() as conn:
        growth = await _growth(conn, project_id, now)
        events = await store.events_since(conn, project_id, now - timedelta(days=WINDOW_DAYS))
        domains = await store.unverified_domains(conn, project_id)
        paused = await store.auto_paused_campaigns(conn, project_id)
    return {
        "recent": recent,
        "growth": growth,
        "events": events,
        "days": WINDOW_DAYS,
        "attention": {
            "domains": domains,
            "paused": [{**p, "paused_at": iso(p["paused_at"])} for p in paused],
        },
    }
