"""Campaign rules: states and which action is allowed from which, field limits and validation,
scheduling times and the analytics arithmetic. Pure: no I/O.

Request fields arrive under AutoSend's names (`previewText`, `from`, ...); `to_columns` turns
them into the column values of the `campaigns` table.
"""

from __future__ import annotations

import zoneinfo
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, Literal

from sendhouse.domain import emails
from sendhouse.domain.times import parse_iso
from sendhouse.domain.urls import link_problems
from sendhouse.errors import InvalidInput

Status = Literal["draft", "scheduled", "sending", "sending_gradual", "paused", "sent", "failed", "aborted"]
SEND_MODES = ("immediate", "scheduled", "gradual")
GRADUAL_STRATEGIES = {"fixed": 1.0, "1.25x": 1.25, "1.5x": 1.5, "1.75x": 1.75, "2x": 2.0}

SENDING = ("sending", "sending_gradual")
EDITABLE = ("draft", "scheduled")
EDITABLE_WHEN_PAUSED = ("draft", "scheduled", "paused")
ABORTABLE = ("scheduled", "sending", "sending_gradual", "paused")
DELETABLE = ("draft",)
AUTO_PAUSABLE = ("scheduled", "sending", "sending_gradual")

# Ledger row statuses (the `messages` table), as far as campaigns care.
PENDING_MESSAGES = ("queued", "sending", "deferred")
CANCELLABLE_MESSAGES = ("queued", "deferred")

# The only fields a paused campaign accepts (its gradual send settings).
PAUSED_EDITABLE_FIELDS = frozenset({"gradualStrategy", "dailyBatchSize", "timezone"})

MAX_LENGTH = {"name": 200, "subject": 998, "previewText": 200, "from.name": 200}

COLUMN_OF = {
    "name": "name",
    "subject": "subject",
    "previewText": "preview_text",
    "fromSenderId": "from_sender_id",
    "replyTo": "reply_to",
    "templateId": "template_id",
    "htmlTemplate": "html_template",
    "toLists": "to_lists",
    "excludeLists": "exclude_lists",
    "unsubscribeGroupId": "unsubscribe_group_id",
    "sendNow": "send_now",
    "sendToGlobalList": "send_to_global_list",
    "sendMode": "send_mode",
    "gradualStrategy": "gradual_strategy",
    "dailyBatchSize": "daily_batch_size",
    "timezone": "timezone",
    "trackingOpen": "tracking_open",
    "trackingClick": "tracking_click",
    "defaultCampaign": "default_campaign",
    "builderType": "builder_type",
}
CREATE_ONLY_FIELDS = frozenset({"defaultCampaign", "builderType"})
# Fields whose null means "not given" (their columns cannot be empty).
NULL_MEANS_UNSET = frozenset(
    {
        "sendNow",
        "sendToGlobalList",
        "trackingOpen",
        "trackingClick",
        "defaultCampaign",
        "sendMode",
        "publish",
    }
)

DEFAULTS: dict[str, Any] = {
    "preview_text": None,
    "from_sender_id": None,
    "from_email": None,
    "from_name": None,
    "reply_to": None,
    "template_id": None,
    "html_template": None,
    "to_lists": [],
    "exclude_lists": [],
    "unsubscribe_group_id": None,
    "send_now": False,
    "send_to_global_list": False,
    "scheduled_at": None,
    "send_mode": "immediate",
    "gradual_strategy": None,
    "daily_batch_size": None,
    "timezone": None,
    "tracking_open": True,
    "tracking_click": True,
    "threshold_preset": "balanced",
    "builder_type": None,
    "default_campaign": False,
    "created_by": None,
    "started_at": None,
    "sent_at": None,
    "aborted_at": None,
    "paused_at": None,
    "paused_reason": None,
    "resumed_at": None,
    "failure_reason": None,
    "total_contacts": 0,
    "suppressed_count": 0,
}


def problem(field: str, message: str) -> dict:
    return {"field": field, "message": message}


def raise_problems(problems: list[dict]) -> None:
    """Raise one InvalidInput listing every problem found, if any."""
    if problems:
        raise InvalidInput("Validation failed", details=problems)


# --- single fields -------------------------------------------------------------------------


def check_length(field: str, value: str | None, *, required: bool = False) -> list[dict]:
    """At most MAX_LENGTH[field] characters; a required text may not be blank."""
    if value is None:
        return [problem(field, f"{field} is required")] if required else []
    if required and not value.strip():
        return [problem(field, f"{field} is required")]
    limit = MAX_LENGTH[field]
    return [problem(field, f"{field} must be at most {limit} characters")] if len(value) > limit else []


@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def is_timezone(name: str) -> bool:
    """Whether `name` is a real IANA zone (e.g. America/New_York)."""
    return name in _zones() or name == "UTC"


def _check_enum(field: str, value: Any, allowed) -> list[dict]:
    if value is None or value in allowed:
        return []
    return [problem(field, f"{field} must be one of: {', '.join(allowed)}")]


def _check_scalars(fields: dict) -> list[dict]:
    found = check_length("name", fields.get("name"), required="name" in fields)
    found += check_length("subject", fields.get("subject"), required="subject" in fields)
    found += check_length("previewText", fields.get("previewText"))
    found += _check_enum("sendMode", fields.get("sendMode"), SEND_MODES)
    found += _check_enum("gradualStrategy", fields.get("gradualStrategy"), tuple(GRADUAL_STRATEGIES))
    batch = fields.get("dailyBatchSize")
    if batch is not None and batch < 1:
        found.append(problem("dailyBatchSize", "dailyBatchSize must be at least 1"))
    zone = fields.get("timezone")
    if zone is not None and not is_timezone(zone):
        found.append(problem("timezone", "timezone must be an IANA time zone such as America/New_York"))
    return found


def _check_from(sender: dict | None) -> list[dict]:
    if sender is None:
        return []
    found = check_length("from.name", sender.get("name"))
    if sender.get("email") is None:
        found.append(problem("from.email", "from.email is required"))
    return found


def check_fields(fields: dict) -> list[dict]:
    """Every per-field problem of a create or update body (references are checked by the service)."""
    found = _check_scalars(fields) + _check_from(fields.get("from"))
    found += link_problems("htmlTemplate", fields.get("htmlTemplate"))
    for key in ("from", "replyTo"):
        found += _email_problems(fields, key)
    if fields.get("scheduledAt") is not None:
        try:
            parse_iso(fields["scheduledAt"], field="scheduledAt")
        except InvalidInput as exc:
            found += exc.details
    return found


def _email_problems(fields: dict, key: str) -> list[dict]:
    value = fields.get(key)
    address, field = (value.get("email"), "from.email") if key == "from" and value else (value, key)
    if not address:
        return []
    wrong = emails.checked(address)[1]
    return [problem(field, wrong)] if wrong else []


def check_create(fields: dict) -> None:
    """A create body: every field rule, plus name, subject and content are required."""
    found = check_fields({"name": None, "subject": None, **fields})
    if not fields.get("templateId") and not fields.get("htmlTemplate"):
        found.append(problem("templateId", "one of templateId or htmlTemplate is required"))
    raise_problems(found)


# --- columns -------------------------------------------------------------------------------


def to_columns(fields: dict) -> dict:
    """The `campaigns` column values of an already-checked body (only the fields given)."""
    fields = {k: v for k, v in fields.items() if v is not None or k not in NULL_MEANS_UNSET}
    columns = {COLUMN_OF[k]: v for k, v in fields.items() if k in COLUMN_OF}
    for key in ("toLists", "excludeLists"):
        if key in fields:
            columns[COLUMN_OF[key]] = list(dict.fromkeys(fields[key] or []))
    if fields.get("from") is not None:
        columns["from_email"] = emails.normalized(fields["from"]["email"], "from.email")
        columns["from_name"] = fields["from"].get("name")
    elif "from" in fields:
        columns.update(from_email=None, from_name=None)
    if fields.get("replyTo"):
        columns["reply_to"] = emails.normalized(fields["replyTo"], "replyTo")
    if "scheduledAt" in fields:
        value = fields["scheduledAt"]
        columns["scheduled_at"] = parse_iso(value, field="scheduledAt") if value is not None else None
    return columns


def create_mode(fields: dict) -> str:
    """The send mode of a new campaign: as given, else `scheduled` with a scheduledAt, else immediate."""
    if fields.get("sendMode"):
        return fields["sendMode"]
    return "scheduled" if fields.get("scheduledAt") and not fields.get("sendNow") else "immediate"


def check_combination(campaign: dict) -> None:
    """Rules across fields of the campaign as it would be stored (gradual settings, content)."""
    gradual = campaign["send_mode"] == "gradual"
    found = []
    if gradual and not campaign.get("gradual_strategy"):
        found.append(problem("gradualStrategy", "gradualStrategy is required when sendMode is gradual"))
    if not gradual and campaign.get("gradual_strategy"):
        found.append(problem("gradualStrategy", "gradualStrategy is only allowed when sendMode is gradual"))
    if not gradual and campaign.get("daily_batch_size") is not None:
        found.append(problem("dailyBatchSize", "dailyBatchSize is only allowed when sendMode is gradual"))
    if not campaign.get("template_id") and not campaign.get("html_template"):
        found.append(problem("templateId", "one of templateId or htmlTemplate is required"))
    raise_problems(found)


# --- scheduling ----------------------------------------------------------------------------


def wants_schedule(fields: dict) -> bool:
    """Whether a body asks for the campaign to be scheduled (publish, sendNow or scheduledAt)."""
    return bool(fields.get("publish") or fields.get("sendNow") or fields.get("scheduledAt"))


def check_schedulable(campaign: dict) -> None:
    """A campaign can only be scheduled with a sender, recipients and content."""
    found = []
    if not campaign.get("from_email"):
        found.append(problem("from", "a sender (from or fromSenderId) is required to schedule a campaign"))
    if not campaign.get("to_lists") and not campaign.get("send_to_global_list"):
        found.append(problem("toLists", "recipients (toLists or sendToGlobalList) are required to schedule"))
    if not campaign.get("template_id") and not campaign.get("html_template"):
        found.append(problem("templateId", "content (templateId or htmlTemplate) is required to schedule"))
    if campaign["send_mode"] == "gradual" and not campaign.get("daily_batch_size"):
        found.append(problem("dailyBatchSize", "dailyBatchSize is required to schedule a gradual campaign"))
    if (
        campaign["send_mode"] == "scheduled"
        and not campaign.get("scheduled_at")
        and not campaign.get("send_now")
    ):
        found.append(problem("scheduledAt", "scheduledAt is required when sendMode is scheduled"))
    raise_problems(found)


def start_time(requested: datetime | None, *, send_now: bool, now: datetime, delay_seconds: int) -> datetime:
    """When a scheduled campaign starts: never sooner than `delay_seconds` from now (abort window)."""
    earliest = now + timedelta(seconds=delay_seconds)
    if send_now or requested is None:
        return earliest
    return max(requested, earliest)


def copy_name(name: str) -> str:
    """The name of a duplicate, within the 200-character limit."""
    return f"Copy of {name}"[: MAX_LENGTH["name"]]


# --- metrics and analytics -----------------------------------------------------------------


def metrics(campaign: dict, counts: dict[str, int]) -> dict:
    """The metrics object derived from the ledger row counts by status (tracking counts are 0)."""
    bounced = counts.get("bounced", 0)
    sent = counts.get("sent", 0) + bounced
    failed = counts.get("failed", 0)
    skipped = counts.get("suppressed", 0)
    found = {
        "sent": sent,
        "delivered": counts.get("sent", 0),
        "opened": 0,
        "clicked": 0,
        "bounced": bounced,
        "unsubscribed": 0,
        "spamReported": 0,
        "suppressed": campaign["suppressed_count"] + skipped,
        "processedCount": sent + failed + skipped,
        "totalContacts": campaign["total_contacts"],
        "failedCount": failed,
    }
    found.update(_speed(campaign, sent))
    return found


def _speed(campaign: dict, sent: int) -> dict:
    started, finished = campaign.get("started_at"), campaign.get("sent_at")
    if not (started and finished):
        return {"averageRatePerSecond": None, "totalDurationSeconds": None}
    seconds = max((finished - started).total_seconds(), 0.0)
    return {
        "averageRatePerSecond": round(sent / seconds, 2) if seconds else None,
        "totalDurationSeconds": round(seconds, 3),
    }


def rate(count: int, base: int) -> float:
    """A percentage 0–100 with 2 decimals; 0 when the base is 0."""
    return round(count * 100 / base, 2) if base else 0.0


def analytics_counts(campaign: dict, found: dict) -> dict:
    """§2.11 counts from the metrics object; `attempted` follows AutoSend's formula."""
    total = found["totalContacts"]
    if campaign["status"] == "sending_gradual":
        total = found["processedCount"] + campaign["suppressed_count"]
    opened = found["opened"] if campaign["tracking_open"] else 0
    clicked = found["clicked"] if campaign["tracking_click"] else 0
    return {
        "totalContacts": found["totalContacts"],
        "suppressed": found["suppressed"],
        "failed": found["failedCount"],
        "attempted": max(0, total - found["suppressed"] - found["failedCount"]),
        "sent": found["sent"],
        "delivered": found["delivered"],
        "opened": opened,
        "humanOpened": opened,
        "clicked": clicked,
        "bounced": found["bounced"],
        "unsubscribed": found["unsubscribed"],
        "spamReported": found["spamReported"],
    }


def analytics_rates(c: dict) -> dict:
    """§2.11 rates (percentages) from the counts."""
    delivered, sent = c["delivered"], c["sent"]
    return {
        "openRate": rate(c["opened"], delivered),
        "clickRate": rate(c["clicked"], delivered),
        "bounceRate": rate(c["bounced"], sent),
        "unsubscribedRate": rate(c["unsubscribed"], delivered),
        "complaintRate": rate(c["spamReported"], delivered),
        "successRate": rate(sent, c["attempted"]),
        "deliveryRate": rate(delivered, sent),
        "trueOpenRate": rate(c["humanOpened"], delivered),
    }


# --- what a person may do next (the dashboard shows only these) ----------------------------

ACTIONS_IN_ORDER = (
    "send",
    "schedule",
    "unschedule",
    "edit",
    "pause",
    "resume",
    "abort",
    "duplicate",
    "delete",
)


def allowed_actions(status: str, send_mode: str) -> tuple[str, ...]:
    """The §2 actions a campaign in `status` accepts, in the order the dashboard shows them."""
    allowed = {"duplicate"}
    if status == "draft":
        allowed |= {"send", "schedule"}
    if status == "scheduled" and send_mode != "gradual":
        allowed.add("schedule")  # a new time
    if status == "scheduled":
        allowed.add("unschedule")  # back to a draft
    if status in EDITABLE:
        allowed.add("edit")
    if status in SENDING or (status == "scheduled" and send_mode == "gradual"):
        allowed.add("pause")
    if status == "paused":
        allowed.add("resume")
    if status in ABORTABLE:
        allowed.add("abort")
    if status in DELETABLE:
        allowed.add("delete")
    return tuple(a for a in ACTIONS_IN_ORDER if a in allowed)


def local_start(value: str, zone: str, now: datetime) -> datetime:
    """A wall-clock date-time (YYYY-MM-DDTHH:MM[:SS]) in IANA `zone` as an aware UTC datetime;
    InvalidInput unless it is a real moment still in the future."""
    if not is_timezone(zone):
        raise InvalidInput.field("timezone", "Choose a time zone from the list, such as Europe/Paris")
    try:
        wall = datetime.fromisoformat(value.strip())
    except ValueError:
        raise InvalidInput.field("scheduledAt", "Choose a date and a time") from None
    if wall.tzinfo is not None:
        raise InvalidInput.field("scheduledAt", "Give the time without a zone; choose the zone in the list")
    at = wall.replace(tzinfo=zoneinfo.ZoneInfo(zone)).astimezone(now.tzinfo)
    if at <= now:
        raise InvalidInput.field(
            "scheduledAt", f"{wall:%d %b %Y %H:%M} in {zone} has already passed; choose a time in the future"
        )
    return at
