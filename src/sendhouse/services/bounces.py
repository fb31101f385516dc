"""Bounces and complaints reported after sending: finding the ledger row a report is about, and
recording it through services/feedback.record, which does what follows from it:

- hard bounce: the row becomes `bounced` (when it was `sent`), a `bounced` event, the address
  suppressed globally (BOUNCE) at once, webhook email.bounced (Permanent);
- soft bounce: a `soft_bounced` event, webhook email.bounced (Transient); the address is
  suppressed (BOUNCE) once it has settings.soft_bounce_limit soft bounces in the project;
- complaint: a `complained` event, the address suppressed globally (COMPLAINT), webhook
  email.spam_reported;
- then, for campaign mail, the auto-pause check of DESIGN §2 (domain/bounces.threshold_breach).
Reports reach here from the inbound SMTP receiver, only when sent to a row's VERP return path
(a report to any other address of the bounce domain, such as a feedback loop's own address, is
refused at RCPT), or over HTTP from relays (POST /v1/inbound/bounce, matched by emailId or by the
Message-ID). Refusals at SMTP time are recorded by services/sending with the worker's outcomes.
Repeated reports of one kind for one row record nothing new (a DSN delivered twice counts once).
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass
from datetime import datetime

from sendhouse.domain import bounces as rules
from sendhouse.domain import emails
from sendhouse.domain.fates import Bounced, Complained, Source
from sendhouse.domain.times import utcnow
from sendhouse.errors import InvalidInput, NotFound
from sendhouse.services import feedback
from sendhouse.store import events as store
from sendhouse.store.db import Database

log = logging.getLogger("sendhouse.bounces")
_ROW_IN_MESSAGE_ID = re.compile(r"<?([0-9a-f]{24})@[^>]+>?")


@dataclass(frozen=True)
class Recorded:
    """What recording one report did."""

    email_id: str
    kind: str
    new: bool
    suppressed: bool
    paused_campaign: str | None = None


def fate_of(row: dict, report: rules.Feedback, source: Source) -> Bounced | Complained:
    """The fate record of a report about one ledger row."""
    if report.kind == rules.COMPLAINT:
        return Complained.reported(row, report, source)
    return Bounced.reported(row, report, source)


async def record(
    conn, row: dict, report: rules.Feedback, *, source: Source, soft_limit: int, now: datetime
) -> Recorded:
    """Record one report for its ledger row, inside the caller's transaction (services/feedback)."""
    fate = fate_of(row, report, source)
    done = await feedback.record(conn, [fate], now=now, soft_limit=soft_limit)
    return Recorded(
        row["id"],
        report.kind,
        new=done.is_new(fate),
        suppressed=done.has_suppressed(fate),
        paused_campaign=done.paused[0] if done.paused else None,
    )


# --- from the inbound SMTP receiver ---------------------------------------------------------


async def parse_report_off_loop(raw: bytes) -> rules.Feedback | None:
    """The report in `raw`, parsed in a thread so the event loop keeps serving meanwhile."""
    return await asyncio.to_thread(rules.parse_report, raw)


async def record_parsed_report(
    db: Database, settings, row_id: str, report: rules.Feedback | None
) -> Recorded | None:
    """Record an already parsed report against the row its VERP address names."""
    if report is None:
        log.info("message to the return path of %s is no bounce or complaint; ignored", row_id)
        return None
    async with db.write() as conn:
        row = await store.message_row(conn, row_id)
        if row is None:
            return None
        return await record(
            conn,
            row,
            report,
            source=Source.DSN if report.kind != rules.COMPLAINT else Source.ARF,
            soft_limit=settings.soft_bounce_limit,
            now=utcnow(),
        )


# --- over HTTP (POST /v1/inbound/bounce) ----------------------------------------------------


def row_of_message_id(message_id: str) -> str | None:
    found = _ROW_IN_MESSAGE_ID.fullmatch(message_id.strip())
    return found.group(1) if found else None


def _bracketed(message_id: str) -> str:
    value = message_id.strip()
    return value if value.startswith("<") else f"<{value}>"


@dataclass(frozen=True)
class HttpReport:
    """The body of POST /v1/inbound/bounce, already type-checked."""

    type: str
    email: str
    message_id: str | None = None
    email_id: str | None = None
    reason: str | None = None
    status: str | None = None
    code: int | None = None


def _feedback(body: HttpReport) -> rules.Feedback:
    status = rules._status(body.status or "") if body.status else None
    if body.status and status is None:
        raise InvalidInput.field("status", "must be an enhanced status code such as 5.1.1")
    kind = {"hard": rules.HARD, "soft": rules.SOFT, "complaint": rules.COMPLAINT}[body.type]
    if status and kind != rules.COMPLAINT and (status[0] == "5") != (kind == rules.HARD):
        raise InvalidInput.field("status", f"a {body.type} bounce cannot have status {status}")
    reason = (body.reason or f"{body.code or ''} {status or ''}".strip() or body.type)[: rules.MAX_REASON]
    return rules.Feedback(
        kind=kind,
        status=status,
        reason=reason,
        recipients=(body.email,),
        sub_type=rules.sub_type(status, kind == rules.HARD) if kind != rules.COMPLAINT else "abuse",
        complaint_type="abuse" if kind == rules.COMPLAINT else None,
    )


async def _row_for(conn, project_id: str, body: HttpReport) -> dict:
    row = None
    if body.email_id:
        row = await store.message_row(conn, body.email_id, project_id)
    elif body.message_id and (row_id := row_of_message_id(body.message_id)):
        row = await store.message_row(conn, row_id, project_id)
        row = row if row and row["message_id_header"] == _bracketed(body.message_id) else None
    if row is None:
        raise NotFound("Email not found", code="EMAIL_NOT_FOUND")
    return row


async def report_over_http(db: Database, settings, project_id: str, body: HttpReport) -> dict:
    """Record a relay's report; 404 when the email is not the project's, 400 when the address differs."""
    if not (body.email_id or body.message_id):
        raise InvalidInput.field("emailId", "emailId or messageId is required")
    email = emails.key(body.email, "email")
    report = _feedback(body)
    async with db.write() as conn:
        row = await _row_for(conn, project_id, body)
        if emails.key_of(row["email"]) != email:
            raise InvalidInput.field("email", "does not match the recipient of this email")
        done = await record(
            conn, row, report, source=Source.HTTP, soft_limit=settings.soft_bounce_limit, now=utcnow()
        )
    return {
        "emailId": done.email_id,
        "type": body.type,
        "recorded": done.new,
        "suppressed": done.suppressed,
        "campaignPaused": done.paused_campaign is not None,
    }
