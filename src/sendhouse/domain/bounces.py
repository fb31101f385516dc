"""Reading bounce and complaint reports (no I/O): RFC 3464 delivery status notifications, RFC 5965
ARF feedback reports, and bounces in no standard shape (flufl.bounce's detectors).

The classification comes from the Status field's class (5.x.x permanent, 4.x.x transient), then the
Action field (failed / delayed), and only for non-standard bounces from flufl.bounce's permanent
and temporary sets. Never from the provider's category (listmonk #2873). Also the auto-pause
thresholds of DESIGN §2 (bounce rate over sent, complaint rate over delivered).
"""

from __future__ import annotations

import email
import email.message
import re
from dataclasses import dataclass
from email.parser import HeaderParser

from flufl.bounce import all_failures

HARD, SOFT, COMPLAINT = "hard", "soft", "complaint"
_STATUS_RE = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_NOT_BOUNCES = ("delivered", "relayed", "expanded")
COMPLAINT_TYPES = ("abuse", "fraud", "virus")
THRESHOLDS = {"balanced": (0.03, 0.0007), "conservative": (0.02, 0.0005), "aggressive": (0.05, 0.001)}
MIN_SENT_FOR_PAUSE = 100
MAX_REASON = 1000


@dataclass(frozen=True)
class Feedback:
    """One report: what happened to which recipients, with the evidence."""

    kind: str  # hard | soft | complaint
    status: str | None = None  # enhanced status code, e.g. "5.1.1"
    reason: str = ""
    sub_type: str = "General"
    recipients: tuple[str, ...] = ()
    original_message_id: str | None = None
    complaint_type: str | None = None

    @property
    def bounce_type(self) -> str:
        """AutoSend's bounceType: Permanent or Transient."""
        return "Permanent" if self.kind == HARD else "Transient"


def parse_report(raw: bytes) -> Feedback | None:
    """The report in a received message, or None when it is not a bounce or complaint."""
    message = email.message_from_bytes(raw)
    if message.get_content_type() == "multipart/report":
        report_type = str(message.get_param("report-type") or "").lower()
        if report_type == "feedback-report":
            return _feedback_report(message)
        if report_type == "delivery-status":
            found = _delivery_status(message)
            if found is not _NOT_A_BOUNCE:
                return found
    return _non_standard(message)


_NOT_A_BOUNCE = Feedback(kind="none")


# --- RFC 5965 -------------------------------------------------------------------------------


def _feedback_report(message: email.message.Message) -> Feedback | None:
    fields = _part_fields(message, "message/feedback-report")
    if not fields:
        return None
    feedback_type = fields.get("feedback-type", "abuse").strip().lower()
    if feedback_type == "not-spam":
        return None
    recipients = tuple(a for a in (_address(fields.get("original-rcpt-to", "")),) if a)
    return Feedback(
        kind=COMPLAINT,
        reason=f"feedback report: {feedback_type}"[:MAX_REASON],
        sub_type=feedback_type,
        recipients=recipients,
        original_message_id=_original_message_id(message),
        complaint_type=feedback_type if feedback_type in COMPLAINT_TYPES else "other",
    )


def _part_fields(message: email.message.Message, content_type: str) -> dict[str, str]:
    """The header-style fields of the first part of `content_type` (lower-case names)."""
    for part in message.walk():
        if part.get_content_type() == content_type:
            return {k.lower(): str(v) for block in _blocks(part) for k, v in block.items()}
    return {}


def _blocks(part: email.message.Message) -> list[email.message.Message]:
    payload = part.get_payload()
    if isinstance(payload, list):
        return [p for p in payload if isinstance(p, email.message.Message)]
    text = payload.decode() if isinstance(payload, bytes) else str(payload)
    return [
        HeaderParser().parsestr(chunk.strip() + "\n")
        for chunk in re.split(r"\r?\n\r?\n", text)
        if chunk.strip()
    ]


# --- RFC 3464 -------------------------------------------------------------------------------


def _delivery_status(message: email.message.Message) -> Feedback | None:
    part = next((p for p in message.walk() if p.get_content_type() == "message/delivery-status"), None)
    if part is None:
        return _NOT_A_BOUNCE
    failures = [b for b in _blocks(part)[1:] if (b.get("action") or "").strip().lower() not in _NOT_BOUNCES]
    failures = [b for b in failures if b.get("action") or b.get("status")]
    if not failures:
        return None if _blocks(part)[1:] else _NOT_A_BOUNCE
    return _from_block(failures[0], failures, _original_message_id(message))


def _from_block(block: email.message.Message, blocks: list, original: str | None) -> Feedback:
    status = _status(str(block.get("status", "")))
    action = str(block.get("action", "")).strip().lower()
    permanent = status[0] == "5" if status else action == "failed"
    diagnostic = " ".join(str(block.get("diagnostic-code", "")).split())
    reason = diagnostic.partition(";")[2].strip() if ";" in diagnostic else diagnostic
    recipients = tuple(
        a
        for a in (
            _address(str(b.get("final-recipient") or b.get("original-recipient") or "")) for b in blocks
        )
        if a
    )
    return Feedback(
        kind=HARD if permanent else SOFT,
        status=status,
        reason=(reason or f"{action or 'failed'} {status or ''}".strip())[:MAX_REASON],
        sub_type=sub_type(status, permanent),
        recipients=recipients,
        original_message_id=original,
    )


def _status(text: str) -> str | None:
    found = _STATUS_RE.search(text)
    return ".".join(found.groups()) if found else None


def sub_type(status: str | None, permanent: bool) -> str:
    """AutoSend's bounceSubType from an enhanced status code."""
    if not status:
        return "General"
    detail = status.split(".", 1)[1]
    if permanent and detail in ("1.1", "1.0", "1.2", "1.3", "1.6", "1.10"):
        return "NoEmail"
    if detail == "2.2":
        return "MailboxFull"
    if detail in ("3.4", "2.3"):
        return "MessageTooLarge"
    if detail.startswith("7.") and not permanent:
        return "ContentRejected"
    return "General"


# --- anything else --------------------------------------------------------------------------


def _non_standard(message: email.message.Message) -> Feedback | None:
    """A bounce in a vendor format: flufl.bounce finds the recipients, the text the status."""
    try:
        temporary, permanent = all_failures(message)
    except Exception:  # noqa: BLE001 - flufl's detectors trip on odd messages (e.g. no From)
        return None
    if not (temporary or permanent):
        return None
    status = _status(_text_of(message))
    is_permanent = bool(permanent) if not status else status[0] == "5"
    recipients = tuple(sorted(a.decode(errors="replace").lower() for a in (permanent or temporary)))
    return Feedback(
        kind=HARD if is_permanent else SOFT,
        status=status,
        reason=f"non-standard bounce {status or ''}".strip(),
        sub_type=sub_type(status, is_permanent),
        recipients=recipients,
        original_message_id=_original_message_id(message),
    )


def _text_of(message: email.message.Message) -> str:
    texts = []
    for part in message.walk():
        if part.get_content_maintype() == "text":
            texts.append(_payload_bytes(part).decode(part.get_content_charset() or "utf-8", errors="replace"))
    return "\n".join(texts)[:100_000]


def _original_message_id(message: email.message.Message) -> str | None:
    """The Message-ID of the returned message (message/rfc822 or text/rfc822-headers part)."""
    for part in message.walk():
        kind = part.get_content_type()
        payload = part.get_payload()
        if (
            kind == "message/rfc822"
            and isinstance(payload, list)
            and isinstance(payload[0], email.message.Message)
        ):
            found = payload[0].get("message-id")
        elif kind == "text/rfc822-headers":
            found = HeaderParser().parsestr(_decoded(part)).get("message-id")
        else:
            continue
        if found:
            return " ".join(str(found).split())
    return None


def _decoded(part: email.message.Message) -> str:
    return _payload_bytes(part).decode("utf-8", errors="replace")


def _payload_bytes(part: email.message.Message) -> bytes:
    """A non-multipart part's body, transfer-decoded (b"" for anything else)."""
    payload = part.get_payload(decode=True)
    return payload if isinstance(payload, bytes) else b""


def _address(field: str) -> str | None:
    """The address of a `rfc822; user@host` field, lower-cased."""
    value = field.partition(";")[2] if ";" in field else field
    value = value.strip().strip("<>").strip().lower()
    return value if "@" in value else None


# --- auto-pause -----------------------------------------------------------------------------


def threshold_breach(preset: str, *, sent: int, delivered: int, bounced: int, complained: int) -> str | None:
    """Why a campaign must pause (its bounce or complaint rate crossed the preset), or None."""
    if sent < MIN_SENT_FOR_PAUSE:
        return None
    bounce_limit, complaint_limit = THRESHOLDS.get(preset, THRESHOLDS["balanced"])
    if bounced / sent > bounce_limit:
        return (
            f"Bounce rate {bounced / sent:.2%} ({bounced} of {sent} sent) is above the {preset} "
            f"threshold of {bounce_limit:.2%}"
        )
    if delivered and complained / delivered > complaint_limit:
        return (
            f"Complaint rate {complained / delivered:.2%} ({complained} of {delivered} delivered) is above "
            f"the {preset} threshold of {complaint_limit:.2%}"
        )
    return None
