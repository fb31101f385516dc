"""The campaign page's use cases: what the campaign is doing now (a progress bar split into sent,
cancelled, failed and remaining; labelled analytics; a sent → delivered → opened → clicked funnel
with its rates; the actions its state allows; when it starts), the send confirmation with its
recipient count, and scheduling at a local time."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sendhouse.domain import campaigns as rules
from sendhouse.domain.times import iso, utcnow
from sendhouse.errors import InvalidInput
from sendhouse.services import campaigns as campaign_service
from sendhouse.services import dashboard as stats
from sendhouse.store.db import Database

LIVE = ("scheduled", "sending", "sending_gradual")
# (name, ledger statuses) of each part of the bar, left to right; the words it shows. A recipient
# the relay refused at RCPT TO is a failed row and a bounce in the cards: "undelivered" covers both.
BAR_LABELS = {"failed": "undelivered"}
BAR_PARTS = (
    ("sent", ("sent", "bounced")),
    ("failed", ("failed",)),
    ("skipped", ("suppressed",)),
    ("cancelled", ("cancelled",)),
)
# Analytics cards in reading order: (label, count key, rate key or None).
CARDS = (
    ("Recipients", "totalContacts", None),
    ("Sent", "sent", None),
    ("Delivered", "delivered", "deliveryRate"),
    ("Opened", "opened", "openRate"),
    ("Clicked", "clicked", "clickRate"),
    ("Bounced", "bounced", "bounceRate"),
    ("Unsubscribed", "unsubscribed", "unsubscribedRate"),
    ("Marked as spam", "spamReported", "complaintRate"),
    ("Failed", "failed", None),
    ("Suppressed", "suppressed", None),
)


def bar_parts(total: int, counts: dict[str, int]) -> list[dict]:
    """The bar's parts ({name, count, percent}), `remaining` last; percents of the total."""
    parts: list[dict[str, Any]] = [
        {"name": name, "count": sum(counts.get(s, 0) for s in statuses)} for name, statuses in BAR_PARTS
    ]
    done = sum(p["count"] for p in parts)
    parts.append({"name": "remaining", "count": max(total - done, 0)})
    base = max(total, done, 1)
    for part in parts:
        part["percent"] = round(part["count"] * 100 / base, 2)
        part["label"] = BAR_LABELS.get(part["name"], part["name"])
    return parts


def cards(analytics: dict) -> list[dict]:
    """Labelled metrics with their rates, in a sensible order."""
    found = []
    for label, key, rate in CARDS:
        value = analytics["counts"].get(key, 0)
        found.append(
            {
                "label": label,
                "key": key,
                "value": value,
                "rate": analytics["rates"].get(rate) if rate else None,
            }
        )
    return found


# Funnel steps: (label, count key, the tracking switch it needs, the API's rate of delivered to add).
FUNNEL = (
    ("Sent", "sent", None, None),
    ("Delivered", "delivered", None, None),
    ("Opened", "opened", "open", None),
    ("Clicked", "clicked", "click", "clickRate"),
)


def funnel(analytics: dict) -> list[dict]:
    """Each step's count, its width (percent of sent), its rate from the step before (`of` names
    that step; delivered → opened is the open rate) and, for clicks, the click rate of delivered."""
    counts, tracking = analytics["counts"], analytics["tracking"]
    steps: list[dict] = []
    for label, key, switch, extra_rate in FUNNEL:
        value, before = counts.get(key, 0), (steps[-1] if steps else None)
        steps.append(
            {
                "label": label,
                "key": key,
                "value": value,
                "tracked": not switch or bool(tracking[switch]),
                "width": min(rules.rate(value, counts.get("sent", 0)), 100.0),
                "rate": rules.rate(value, before["value"]) if before else None,
                "of": before["label"].lower() if before else None,
                "ofDelivered": analytics["rates"].get(extra_rate) if extra_rate else None,
            }
        )
    return steps


def starts_in(campaign: dict, now: datetime) -> int | None:
    """Seconds until a scheduled campaign starts (0 once due), else None."""
    at = campaign.get("scheduledAt")
    if campaign["status"] != "scheduled" or not at:
        return None
    return max(int((datetime.fromisoformat(at) - now).total_seconds()), 0)


async def live_state(db: Database, project_id: str, campaign_id: str) -> dict:
    """Everything of the campaign page that changes while it sends."""
    found = await stats.campaign_progress(db, project_id, campaign_id)
    campaign = found["campaign"]
    drawn = await stats.campaign_charts(db, project_id, campaign_id)
    analytics = drawn["analytics"]
    pending = found["counts"].get("pending", 0) > 0
    return {
        **found,
        "parts": bar_parts(found["total"], found["counts"]),
        "cards": cards(analytics),
        "funnel": funnel(analytics),
        "analytics": analytics,
        "timeline": drawn["timeline"],
        "links": drawn["links"],
        "live": campaign["status"] in LIVE or pending,
        "actions": rules.allowed_actions(campaign["status"], campaign.get("sendMode") or "immediate"),
        "startsIn": starts_in(campaign, utcnow()),
    }


async def send_confirmation(db: Database, project_id: str, campaign_id: str, *, send_now_delay: int) -> dict:
    """What "Send now" would do: recipients after suppression, the start time, what blocks it."""
    return await campaign_service.send_preview(db, project_id, campaign_id, send_now_delay=send_now_delay)


async def send_now(db: Database, project_id: str, campaign_id: str, *, send_now_delay: int) -> dict:
    """Schedule the start `send_now_delay` seconds ahead (the abort window)."""
    return await campaign_service.update_campaign(
        db, project_id, campaign_id, {"sendNow": True}, send_now_delay=send_now_delay
    )


async def schedule_at(
    db: Database, project_id: str, campaign_id: str, local: str, zone: str, *, send_now_delay: int
) -> dict:
    """Schedule at a wall-clock time in `zone`; a time already past is refused (InvalidInput)."""
    if not local:
        raise InvalidInput.field("scheduledAt", "Choose a date and a time")
    at = rules.local_start(local, zone or "UTC", utcnow())
    return await campaign_service.update_campaign(
        db, project_id, campaign_id, {"scheduledAt": iso(at)}, send_now_delay=send_now_delay
    )
