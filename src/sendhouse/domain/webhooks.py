"""Webhook rules with no I/O: event names, payload builders, secrets, signatures, retry schedule.

Payload builders return the `data` object of each event of AutoSend's §10.2; `envelope()` wraps
it as `{type, createdAt, data}` and serializes it once, so the signed bytes are the sent bytes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import secrets
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import orjson

from sendhouse.domain.times import iso

EMAIL_EVENTS = (
    "email.sent",
    "email.delivered",
    "email.deferred",
    "email.bounced",
    "email.opened",
    "email.clicked",
    "email.spam_reported",
)
SUBSCRIPTION_EVENTS = ("email.unsubscribed", "email.group_unsubscribed", "email.group_resubscribed")
CONTACT_EVENTS = ("contact.created", "contact.updated", "contact.deleted")
INBOUND_EVENTS = ("email.received",)
EVENTS = EMAIL_EVENTS + SUBSCRIPTION_EVENTS + CONTACT_EVENTS + INBOUND_EVENTS

# Fields an email event carries beyond the common ones.
EMAIL_EXTRA_FIELDS = {
    "email.deferred": ("delayType", "delayReason", "expirationTime"),
    "email.bounced": ("bounceType", "bounceSubType", "reason"),
    "email.clicked": ("clickedUrl",),
    "email.spam_reported": ("complaintType",),
}
SECRET_PREFIX = "whsec_"
HIDDEN_SECRET = "***hidden***"
MAX_URL_LENGTH = 2048


def _refs(
    campaign_id: str | None, template_id: str | None, workflow_automation_id: str | None, batch_id: str | None
) -> dict[str, str]:
    refs = {
        "campaignId": campaign_id,
        "templateId": template_id,
        "workflowAutomationId": workflow_automation_id,
        "batchId": batch_id,
    }
    return {key: value for key, value in refs.items() if value is not None}


def email_data(
    event: str,
    *,
    email_id: str,
    from_email: str,
    to_email: str,
    to_name: str | None = None,
    subject: str = "",
    test: bool = False,
    campaign_id: str | None = None,
    template_id: str | None = None,
    workflow_automation_id: str | None = None,
    batch_id: str | None = None,
    **extra: Any,
) -> dict:
    """`data` of an email.* delivery event: the common fields plus the event's own extras."""
    allowed = EMAIL_EXTRA_FIELDS.get(event, ())
    if event not in EMAIL_EVENTS or set(extra) - set(allowed):
        raise ValueError(f"{event} does not take {sorted(set(extra) - set(allowed))}")
    data = {
        "emailId": email_id,
        "from": from_email,
        "to": {"email": to_email, "name": to_name},
        "subject": subject,
        "test": test,
    }
    data.update(_refs(campaign_id, template_id, workflow_automation_id, batch_id))
    data.update({key: extra.get(key) for key in allowed})
    return data


def subscription_data(
    event: str,
    *,
    email_id: str | None = None,
    test: bool = False,
    unsubscribe_group_id: str | None = None,
    campaign_id: str | None = None,
    template_id: str | None = None,
    workflow_automation_id: str | None = None,
    batch_id: str | None = None,
) -> dict:
    """`data` of email.unsubscribed / group_unsubscribed / group_resubscribed (no from/to/subject)."""
    if event not in SUBSCRIPTION_EVENTS:
        raise ValueError(f"{event} is not a subscription event")
    data: dict[str, Any] = {"test": test}
    if email_id is not None:
        data["emailId"] = email_id
    if event != "email.unsubscribed":
        data["unsubscribeGroupId"] = unsubscribe_group_id
    data.update(_refs(campaign_id, template_id, workflow_automation_id, batch_id))
    return data


def contact_data(
    event: str,
    *,
    contact_id: str | None,
    email: str | None,
    name: str | None = None,
    changed_fields: list[str] | None = None,
) -> dict:
    """`data` of contact.created / updated (with changedFields) / deleted."""
    if event not in CONTACT_EVENTS:
        raise ValueError(f"{event} is not a contact event")
    data: dict[str, Any] = {"contactId": contact_id, "email": email, "name": name}
    if event == "contact.updated":
        data["changedFields"] = list(changed_fields or [])
    return data


def received_data(
    *,
    inbound_email_id: str,
    from_email: str,
    from_name: str | None,
    to: list[str],
    cc: list[str],
    subject: str,
    attachments: list[dict],
    spam_verdict: str,
    virus_verdict: str,
    received_at: datetime,
    thread_id: str | None = None,
    in_reply_to_email_activity_id: str | None = None,
    in_reply_to_inbound_email_id: str | None = None,
) -> dict:
    """`data` of email.received (attachments: {attachmentId, attachmentIndex, filename, contentType, size})."""
    data = {
        "inboundEmailId": inbound_email_id,
        "from": {"email": from_email, "name": from_name},
        "to": list(to),
        "cc": list(cc),
        "subject": subject,
        "attachments": list(attachments),
        "spamVerdict": spam_verdict,
        "virusVerdict": virus_verdict,
        "receivedAt": iso(received_at),
    }
    optional = {
        "threadId": thread_id,
        "inReplyToEmailActivityId": in_reply_to_email_activity_id,
        "inReplyToInboundEmailId": in_reply_to_inbound_email_id,
    }
    data.update({key: value for key, value in optional.items() if value is not None})
    return data


def envelope(event: str, data: dict, created_at: datetime) -> bytes:
    """The delivery body `{type, createdAt, data}`, serialized once."""
    if event not in EVENTS:
        raise ValueError(f"unknown webhook event {event!r}")
    return orjson.dumps(
        {"type": event, "createdAt": iso(created_at), "data": data},
        option=orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS,
    )


def new_secret() -> str:
    """A signing secret `whsec_<base64 of 32 random bytes>` (the Standard Webhooks format)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def autosend_signature(secret: str, body: bytes) -> str:
    """X-Webhook-Signature: hex HMAC-SHA256 of the raw body, keyed by the secret as shown to the user."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def standard_signature(secret: str, delivery_id: str, timestamp: int, body: bytes) -> str:
    """webhook-signature: `v1,<base64 HMAC-SHA256 of "{id}.{ts}.{body}">` keyed by the decoded whsec_ secret."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX) + "==")
    signed = f"{delivery_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def delivery_headers(
    *, secret: str, delivery_id: str, event: str, body: bytes, now: datetime
) -> dict[str, str]:
    """Every signed header of one attempt (AutoSend's and Standard Webhooks')."""
    seconds = math.floor(now.timestamp())
    return {
        "Content-Type": "application/json",
        "X-Webhook-Signature": autosend_signature(secret, body),
        "X-Webhook-Event": event,
        "X-Webhook-Delivery-Id": delivery_id,
        "X-Webhook-Timestamp": str(math.floor(now.timestamp() * 1000)),
        "webhook-id": delivery_id,
        "webhook-timestamp": str(seconds),
        "webhook-signature": standard_signature(secret, delivery_id, seconds, body),
    }


def parse_retry_schedule(text: str) -> tuple[float, ...]:
    """ "5,10,20" -> (5.0, 10.0, 20.0): the wait before each retry; empty means no retries."""
    parts = [part.strip() for part in text.split(",") if part.strip()]
    delays = tuple(float(part) for part in parts)
    if any(not math.isfinite(d) or d < 0 for d in delays):
        raise ValueError("retry delays must be non-negative numbers of seconds")
    return delays


def url_problem(url: str) -> str | None:
    """Why a webhook URL is unacceptable, or None (http or https, with a host, at most 2048 chars)."""
    if len(url) > MAX_URL_LENGTH:
        return f"url must be at most {MAX_URL_LENGTH} characters"
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        return "url is not a valid URL"
    if parts.scheme not in ("http", "https") or not host:
        return "url must be an http(s) URL with a host"
    return None


def events_problem(events: list[str]) -> str | None:
    """Why a list of subscribed events is unacceptable, or None."""
    if not events:
        return "at least one event is required"
    unknown = [e for e in events if e not in EVENTS]
    if unknown:
        return f"unknown events: {', '.join(unknown)}"
    return None
