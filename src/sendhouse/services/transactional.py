"""Transactional mail: `/mails/send`, `/mails/bulk` and `/mails/{id}/status` as use cases.

A request becomes ledger rows in `messages` (kind 'transactional', priority 10, before any
campaign mail) in one transaction; the worker builds and delivers them later.

Ledger shape (a contract with the worker):
- one row per recipient: every TO, CC and BCC address of an email gets its own row, so status,
  retries, bounces (VERP per row) and metrics count real recipients. Each row is one SMTP
  envelope with one RCPT; the visible To/Cc headers are the same for every row of an email.
- row.payload = {"role": "to"|"cc"|"bcc", "emailId": <the email's TO row id>,
  "to": [{email, name}], "cc": [...], "dynamicData": {...merged...},
  "content": {...} on the first row that uses a content, else "contentRowId": <that row's id>}.
- content = {from, replyTo, cc (the visible Cc header), subject, html, text, templateId, headers, attachments (base64),
  trackingOpen, trackingClick, unsubscribeGroupId, bypassSuppressions, batchId}; a template is
  resolved (subject/html/text copied) when the request is accepted.
- suppressed recipients (global group or the request's unsubscribe group) get a row with status
  'suppressed' (never claimed) unless bypassSuppressions; a suppressed TO suppresses its CC/BCC.
"""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sendhouse.config import Settings
from sendhouse.domain import ids, mime
from sendhouse.domain import mails as rules
from sendhouse.domain.emails import key_of
from sendhouse.domain.times import iso, utcnow
from sendhouse.errors import AppError, InvalidInput, NotFound
from sendhouse.services import idempotency
from sendhouse.services.senders import check_from_allowed, check_from_once
from sendhouse.store import ledger
from sendhouse.store import mails as store
from sendhouse.store.db import Database
from sendhouse.store.events import lifecycle
from sendhouse.store.templates import get_template

PRIORITY = 10
QUEUED_MESSAGE = "Email queued successfully."


@dataclass
class Email:
    """One email to queue: its shared content, visible recipients, BCCs and merge data."""

    content: dict
    to: list[dict]
    cc: list[dict]
    bcc: list[dict]
    data: dict = field(default_factory=dict)
    message_id: str | None = None  # kept as every row's Message-ID (SMTP submission), else per row


@dataclass
class Queued:
    """What one email became: its id (the TO row) and how many rows are queued / suppressed."""

    email_id: str
    queued: int
    suppressed: int
    to_queued: bool
    address: str = ""


async def send_mail(
    db: Database,
    settings: Settings,
    project_id: str,
    body: dict,
    *,
    idempotency_record: idempotency.Key | None = None,
    message_id: str | None = None,
) -> dict:
    """Queue one email (to + cc + bcc); {emailId, message, totalRecipients}. `message_id`: the
    Message-ID every row of it carries (SMTP submission keeps the app's), else one per row."""
    mail = rules.check_send(body)
    async with db.write() as conn:
        data = await queue_checked_mail(conn, settings, project_id, mail, message_id=message_id)
        await _complete(conn, idempotency_record, data)
    return data


async def queue_checked_mail(
    conn, settings: Settings, project_id: str, mail: dict, *, message_id: str | None = None
) -> dict:
    """Queue one email already checked by rules.check_send, inside the caller's transaction."""
    content = await _content(conn, settings, project_id, mail, batch_id=None)
    email = Email(content, mail["to"], mail["cc"], mail["bcc"], mail["dynamicData"], message_id)
    [done] = await _queue(conn, project_id, [email], batch_id=None)
    return _queued_data(done)


@dataclass
class Prepared:
    """Checked emails of one project made into ledger rows: each email's result (its data, or the
    error that refused it) and the rows to insert (insert_prepared) in a write transaction."""

    results: list[dict | AppError]
    rows: list[dict]


async def prepare_checked_mails(
    conn, settings: Settings, project_id: str, mails: list[tuple[dict, str | None]]
) -> Prepared:
    """The ledger rows of several checked emails ((mail, message_id) pairs) of one project, with
    reads only (tracking defaults, one `from` check per domain, one suppression lookup), so it can
    run before the write transaction; an email the project's rules refuse comes back as its error."""
    built: list[Email | AppError] = []
    tracking = await store.tracking_defaults(conn, project_id)
    refusals: dict[str, AppError | None] = {}
    for mail, message_id in mails:
        try:
            await check_from_once(conn, settings, project_id, mail["from"]["email"], refusals)
            content = await _content(
                conn, settings, project_id, mail, batch_id=None, tracking=tracking, sender_checked=True
            )
        except AppError as error:
            built.append(error)
            continue
        built.append(Email(content, mail["to"], mail["cc"], mail["bcc"], mail["dynamicData"], message_id))
    emails = [e for e in built if isinstance(e, Email)]
    done, rows = await _rows(conn, project_id, emails, batch_id=None) if emails else ([], [])
    results = iter(done)
    return Prepared([e if isinstance(e, AppError) else _queued_data(next(results)) for e in built], rows)


async def insert_prepared(conn, prepared: list[Prepared]) -> None:
    """Insert the rows of prepared emails inside the caller's write transaction."""
    await ledger.insert_few_rows(conn, [row for p in prepared for row in p.rows])


def _queued_data(done: Queued) -> dict:
    return {"emailId": done.email_id, "message": QUEUED_MESSAGE, "totalRecipients": done.queued}


async def send_bulk(
    db: Database,
    settings: Settings,
    project_id: str,
    body: dict,
    *,
    idempotency_record: idempotency.Key | None = None,
) -> dict:
    """Queue one email per valid recipient; {batchId, totalRecipients, successCount, failedCount,
    emailIds, failures}: a refused or suppressed recipient is a failure, listed with its reason."""
    if "emails" in body and "recipients" not in body:
        return await _send_legacy_bulk(db, settings, project_id, body, idempotency_record)
    mail = rules.check_bulk(body)
    batch_id = str(uuid.uuid4())
    async with db.write() as conn:
        content = await _content(conn, settings, project_id, mail, batch_id=batch_id)
        emails = [
            Email(_with_cc(content, r["cc"]), [_addr(r)], r["cc"], r["bcc"], r["dynamicData"])
            for r in mail["recipients"]
        ]
        done = await _queue(conn, project_id, emails, batch_id=batch_id)
        data = _bulk_result(batch_id, mail["recipients"], done, mail["refused"])
        await _complete(conn, idempotency_record, data)
    return data


async def _send_legacy_bulk(
    db: Database, settings: Settings, project_id: str, body: dict, idempotency_record: idempotency.Key | None
) -> dict:
    """autosendjs 1.0.1's bulk shape: {emails: [send request, ...]} (`variables` = dynamicData)."""
    items = body.get("emails")
    if not isinstance(items, list) or not 1 <= len(items) <= rules.MAX_BULK_RECIPIENTS:
        raise InvalidInput.field("emails", f"1 to {rules.MAX_BULK_RECIPIENTS} emails are required")
    mails, refused = _legacy_mails(items)
    batch_id = str(uuid.uuid4())
    async with db.write() as conn:
        emails = [
            Email(
                await _content(conn, settings, project_id, m, batch_id=batch_id),
                m["to"],
                m["cc"],
                m["bcc"],
                m["dynamicData"],
            )
            for m in mails
        ]
        done = await _queue(conn, project_id, emails, batch_id=batch_id)
        data = _bulk_result(batch_id, mails, done, refused)
        await _complete(conn, idempotency_record, data)
    return data


def _legacy_mails(items: list) -> tuple[list[dict], list[dict]]:
    """The valid emails of a legacy bulk request (each with its index) and the refused ones."""
    mails, refused, details = [], [], []
    for i, item in enumerate(items):
        try:
            mails.append({**rules.check_send(_legacy_item(item)), "index": i})
        except InvalidInput as exc:
            found = [{**d, "field": f"emails[{i}].{d['field']}"} for d in exc.details or ()]
            details += found
            refused.append(rules.refusal(i, (item.get("to") if isinstance(item, dict) else None), found))
    if not mails:
        raise InvalidInput("Validation failed: no valid recipient", details=details)
    return mails, refused


def _legacy_item(item: Any) -> dict:
    if not isinstance(item, dict):
        raise InvalidInput.field("email", "each email must be an object")
    return {**item, "dynamicData": item.get("dynamicData") or item.get("variables")}


SUPPRESSED_REASON = "The address is suppressed (unsubscribed, bounced or complained)"


def _bulk_result(batch_id: str, accepted: list[dict], done: list[Queued], refused: list[dict]) -> dict:
    """AutoSend's counts over every recipient sent, and each failure with its reason."""
    suppressed = [
        {
            "index": a["index"],
            "email": q.address,
            "reason": SUPPRESSED_REASON,
            "code": "SUPPRESSED",
            "emailId": q.email_id,
        }
        for a, q in zip(accepted, done, strict=True)
        if not q.to_queued
    ]
    failures = sorted(refused + suppressed, key=lambda f: f["index"])
    success = len(done) - len(suppressed)
    return {
        "batchId": batch_id,
        "totalRecipients": success + len(failures),
        "successCount": success,
        "failedCount": len(failures),
        "emailIds": [q.email_id for q in done],
        "failures": failures,
    }


def _with_cc(content: dict, cc: list[dict]) -> dict:
    """The shared content, or a copy of it for a bulk recipient with a Cc list of its own."""
    return content if cc == content["cc"] else {**content, "cc": cc}


def _addr(recipient: dict) -> dict:
    return {"email": recipient["email"], "name": recipient["name"]}


async def _complete(conn, key: idempotency.Key | None, data: dict) -> None:
    """Store the response for an Idempotency-Key in the same transaction as the ledger rows."""
    await idempotency.record(conn, key, data)


async def _content(
    conn,
    settings: Settings,
    project_id: str,
    mail: dict,
    *,
    batch_id: str | None,
    tracking: tuple[bool, bool] | None = None,
    sender_checked: bool = False,
) -> dict:
    """The stored content of an email: template resolved, tracking defaults applied (`tracking`: the
    project's, when the caller already read them), sender checked (unless the caller did)."""
    if not sender_checked:
        await check_from_allowed(conn, settings, project_id, mail["from"]["email"])
    group = mail["unsubscribeGroupId"]
    if group and not await store.group_exists(conn, project_id, group):
        raise NotFound("Unsubscribe group not found", code="GROUP_NOT_FOUND")
    subject, html, text = await _body(conn, project_id, mail)
    track_open, track_click = tracking or await store.tracking_defaults(conn, project_id)
    return {
        "from": mail["from"],
        "replyTo": mail["replyTo"],
        "cc": mail["cc"],
        "subject": subject,
        "html": html,
        "text": text,
        "templateId": mail["templateId"],
        "headers": mail["headers"],
        "attachments": mail["attachments"],
        "trackingOpen": _either(mail["trackingOpen"], track_open),
        "trackingClick": _either(mail["trackingClick"], track_click),
        "unsubscribeGroupId": group,
        "bypassSuppressions": mail["bypassSuppressions"],
        "batchId": batch_id,
    }


def _either(given: bool | None, default: bool) -> bool:
    return default if given is None else bool(given)


async def _body(conn, project_id: str, mail: dict) -> tuple[str | None, str | None, str | None]:
    """(subject, html, text): the request's, or the template's where the request gives none."""
    if not mail["templateId"]:
        return mail["subject"], mail["html"], mail["text"]
    template = await get_template(conn, project_id, mail["templateId"])
    if template is None:
        raise NotFound("Template not found", code="TEMPLATE_NOT_FOUND")
    return (
        mail["subject"] or template["subject"],
        mail["html"] or template["html"],
        mail["text"] or template["plain_text"],
    )


async def _queue(conn, project_id: str, emails: list[Email], *, batch_id: str | None) -> list[Queued]:
    """Insert the rows of every email; suppressed addresses get 'suppressed' rows unless bypassed."""
    done, rows = await _rows(conn, project_id, emails, batch_id=batch_id)
    await ledger.insert_rows(conn, rows)
    return done


async def _rows(
    conn, project_id: str, emails: list[Email], *, batch_id: str | None
) -> tuple[list[Queued], list[dict]]:
    """The rows of every email (reads the suppressions only)."""
    addresses = [a["email"] for e in emails for a in (*e.to, *e.cc, *e.bcc)]
    groups = {e.content["unsubscribeGroupId"] for e in emails if not e.content["bypassSuppressions"]}
    blocked = {g: await store.suppressed_among(conn, project_id, addresses, g) for g in groups}
    builder = _RowBuilder(project_id, batch_id, utcnow())
    return [builder.add(e, _blocked_for(e, blocked)) for e in emails], builder.rows


def contact_rows(
    project_id: str, items: list[tuple[str, Email, str, dict]], *, priority: int, now: datetime
) -> list[dict]:
    """Ledger rows of emails another feature sends to contacts (an automation's email steps), one
    per (email id, email, contact id, payload extra): the same rows and Message-IDs as /mails/send,
    with the contact and the feature's ids on them; emails sharing one content object store it
    once. The caller has left suppressed contacts out and inserts the rows (store.ledger.insert_bulk)."""
    builder = _RowBuilder(project_id, None, now)
    for email_id, email, contact_id, extra in items:
        start = len(builder.rows)
        builder.add(email, set(), email_id=email_id)
        for row in builder.rows[start:]:
            row.update(contact_id=contact_id, priority=priority)
            row["payload"].update(extra)
    return builder.rows


def _blocked_for(email: Email, blocked: dict[str | None, set[str]]) -> set[str]:
    content = email.content
    return set() if content["bypassSuppressions"] else blocked[content["unsubscribeGroupId"]]


class _RowBuilder:
    """Turns emails into ledger rows, writing each distinct content once."""

    def __init__(self, project_id: str, batch_id: str | None, now: datetime):
        self.project_id, self.batch_id, self.now = project_id, batch_id, now
        self.rows: list[dict] = []
        self._content_rows: dict[int, str] = {}

    def add(self, email: Email, blocked: set[str], *, email_id: str | None = None) -> Queued:
        to_blocked = any(key_of(a["email"]) in blocked for a in email.to)
        email_id, start = email_id or ids.new_id(), len(self.rows)
        for role, addresses in (("to", email.to), ("cc", email.cc), ("bcc", email.bcc)):
            for i, a in enumerate(addresses):
                row_id = email_id if role == "to" and i == 0 else ids.new_id()
                skip = key_of(a["email"]) in blocked or (role != "to" and to_blocked)
                self.rows.append(
                    self._row(row_id, email_id, role, a, email, "suppressed" if skip else "queued")
                )
        mine = self.rows[start:]
        queued = sum(1 for r in mine if r["status"] == "queued")
        return Queued(email_id, queued, len(mine) - queued, mine[0]["status"] == "queued", mine[0]["email"])

    def _row(self, row_id: str, email_id: str, role: str, addr: dict, email: Email, status: str) -> dict:
        payload = {
            "role": role,
            "emailId": email_id,
            "to": email.to,
            "cc": email.cc,
            "dynamicData": email.data,
        }
        content_row = self._content_rows.setdefault(id(email.content), row_id)
        payload.update({"content": email.content} if content_row == row_id else {"contentRowId": content_row})
        return {
            "id": row_id,
            "project_id": self.project_id,
            "campaign_id": None,
            "batch_id": self.batch_id,
            "kind": "transactional",
            "priority": PRIORITY,
            "email": addr["email"],
            "name": addr["name"],
            "status": status,
            "attempts": 0,
            "next_attempt_at": self.now,
            "payload": payload,
            "message_id_header": email.message_id
            or ids.message_id_header(row_id, email.content["from"]["email"]),
            "created_at": self.now,
            "updated_at": self.now,
        }


async def mail_status(db: Database, project_id: str, email_id: str) -> dict:
    """AutoSend's status object for one ledger row (reference §3.3)."""
    async with db.read() as conn:
        row = await store.get_transactional(conn, project_id, email_id)
        if row is None:
            raise NotFound("Email not found", code="EMAIL_NOT_FOUND")
        content = await store.content_of(conn, row)
        times = await lifecycle(conn, row["id"])
    return present_status(row, content, times)


# Lifecycle events in the order that makes one "later" than another when they share a time.
LIFECYCLE = ("delivered", "soft_bounced", "opened", "clicked", "unsubscribed", "complained", "bounced")


def present_status(row: dict, content: dict, times: dict | None = None) -> dict:
    """{id, projectId, status, subject, recipient, sender, sentAt, deliveredAt, openedAt, clickedAt, bouncedAt}:
    `status` is the latest lifecycle event (times: {event type: (first, last, n)} from store.events)."""
    sender = content.get("from") or {}
    times = dict(times or {})
    if row["status"] == "sent" and row["sent_at"]:
        times.setdefault("delivered", (row["sent_at"], row["sent_at"], 1))
    bounced = times.get("bounced", (row["failed_at"],) * 2 if row["status"] == "bounced" else (None, None))[0]
    first = {kind: iso(found[0]) for kind, found in times.items()}
    return {
        "id": row["id"],
        "projectId": row["project_id"],
        "status": _latest(row["status"], times),
        "subject": content.get("subject"),
        "recipient": {"email": row["email"], "name": row["name"]},
        "sender": {"email": sender.get("email"), "name": sender.get("name")},
        "sentAt": iso(row["sent_at"]),
        "deliveredAt": first.get("delivered"),
        "openedAt": first.get("opened"),
        "clickedAt": first.get("clicked"),
        "bouncedAt": iso(bounced),
    }


def _latest(status: str, times: dict) -> str:
    """The row's status, or its latest lifecycle event once there is one beyond delivery."""
    seen = [(times[k][1], LIFECYCLE.index(k), k) for k in LIFECYCLE if k in times and k != "delivered"]
    return max(seen)[2] if seen else status


def transactional_spec(payload: dict, project_id: str) -> mime.MessageSpec:
    """The MessageSpec of a transactional email from its stored content (row.payload["content"],
    or the content row's when the row has a contentRowId). Attachments are decoded to bytes.
    Content marked `marketing` (an automation's email) is built as campaign mail: unsubscribe
    footer when the template has no {{unsubscribe}}, List-Unsubscribe with one-click."""
    content = payload.get("content", payload)
    sender, reply_to = content.get("from") or {}, content.get("replyTo") or {}
    headers = dict(content.get("headers") or {})
    if content.get("cc"):
        headers["Cc"] = cc_header(content["cc"])
    return mime.MessageSpec(
        project_id=project_id,
        kind="campaign" if content.get("marketing") else "transactional",
        from_email=sender.get("email", ""),
        from_name=sender.get("name"),
        reply_to=reply_to.get("email"),
        subject=content.get("subject") or "",
        html=content.get("html") or "",
        text=content.get("text"),
        preview_text=content.get("previewText"),
        headers=headers,
        tracking_open=bool(content.get("trackingOpen")),
        tracking_click=bool(content.get("trackingClick")),
        unsubscribe_group=content.get("unsubscribeGroupId"),
        campaign_id=None,
        attachments=tuple(_attachment(a) for a in content.get("attachments") or ()),
    )


def cc_header(cc: list[dict]) -> str:
    """The visible Cc list; names that need encoding are left out (the address alone is shown)."""
    return ", ".join(
        mime.mailbox(a["name"] if _plain(a.get("name")) else None, a["email"], field="cc") for a in cc
    )


def _plain(name: str | None) -> bool:
    return bool(name and name.isascii() and "=?" not in name)


def _attachment(item: dict) -> tuple[str, str | None, bytes]:
    return item["fileName"], item.get("contentType"), base64.b64decode(item["content"])
