"""The inbox as use cases: enabling receiving on a domain, listing and reading received messages,
their attachments and raw source (through signed, expiring links), and replying.

A reply is queued with services/transactional like any `/mails/send` (suppressions, tracking,
the verified-domain rule, the worker and webhooks apply), to the original's Reply-To (else From),
with In-Reply-To and References set; its ledger row's Message-ID is remembered (inbound_replies)
so an answer to the reply joins the same thread.
"""

from __future__ import annotations

import re
import time
from dataclasses import replace
from datetime import datetime
from typing import Any

from sendhouse.config import Settings
from sendhouse.domain import inbound_mail as rules
from sendhouse.domain import tokens
from sendhouse.domain.filters import InboxFilter
from sendhouse.domain.pagination import Page
from sendhouse.domain.times import iso, utcnow
from sendhouse.errors import Conflict, InvalidInput, InvalidOperation, NotFound
from sendhouse.services import domains as domain_service
from sendhouse.services import transactional
from sendhouse.store import domains as domain_store
from sendhouse.store import inbound as store
from sendhouse.store import mails as mail_store
from sendhouse.store.db import Database

ATTACHMENT_URL_SECONDS = 900
RAW_URL_SECONDS = 300
FILE_TOKEN = "inbound-file"
DOWNLOAD_PATH = "/v1/inbound/downloads/"
_ID = re.compile(r"^[0-9a-f]{24}$")
_ATTACHMENT_ID = re.compile(r"^att_[0-9a-f]{24}$")
MAX_REFERENCES_CHARS = 990


def _not_found() -> NotFound:
    return NotFound("Inbound email not found", code="INBOUND_EMAIL_NOT_FOUND")


def _invalid(field: str) -> InvalidInput:
    return InvalidInput.field(field, "Invalid value")


# --- receiving domains ----------------------------------------------------------------------


async def enable_domain(db: Database, settings: Settings, project_id: str, domain_id: str) -> dict:
    """Receive mail at the domain (it must be verified for sending); the domain with its MX record."""
    async with db.write() as conn:
        row = await domain_store.get_domain(conn, project_id, domain_id)
        if row is None:
            raise NotFound("Domain not found", code="DOMAIN_NOT_FOUND")
        if row["verification_status"] != "VERIFIED":
            raise InvalidOperation(
                "The domain must be verified for sending before it can receive mail",
                code="DOMAIN_NOT_VERIFIED",
            )
        state = await store.inbound_states(conn, [domain_id])
        if not state and not await store.enable_domain(
            conn,
            {
                "domain_id": domain_id,
                "project_id": project_id,
                "domain_name": row["domain_name"],
                "enabled_at": utcnow(),
                "verified_at": None,
            },
        ):
            raise Conflict(
                "Another project already receives mail for this domain", code="INBOUND_DOMAIN_TAKEN"
            )
    return domain_service.present_domain(
        row, settings, await domain_service.check_inbound_mx(db, settings, row)
    )


async def disable_domain(db: Database, settings: Settings, project_id: str, domain_id: str) -> dict:
    async with db.write() as conn:
        row = await domain_store.get_domain(conn, project_id, domain_id)
        if row is None:
            raise NotFound("Domain not found", code="DOMAIN_NOT_FOUND")
        await store.disable_domain(conn, domain_id)
    return domain_service.present_domain(row, settings, None)


# --- reading --------------------------------------------------------------------------------


def _mailbox_list(addresses: dict, key: str) -> list[dict]:
    return [{"email": a["email"], "name": a.get("name")} for a in addresses.get(key) or []]


def present_attachment(row: dict) -> dict:
    return {
        "attachmentId": row["id"],
        "filename": row["filename"],
        "contentType": row["content_type"],
        "size": row["size"],
        "index": row["position"],
    }


def present_summary(row: dict, attachments: list[dict]) -> dict:
    addresses = row["addresses"]
    return {
        "id": row["id"],
        "messageId": row["message_id_header"],
        "domainName": row["domain_name"],
        "from": {"email": row["from_email"], "name": row["from_name"]},
        "to": _mailbox_list(addresses, "to"),
        "cc": _mailbox_list(addresses, "cc"),
        "subject": row["subject"],
        "status": row["status"],
        "threadId": row["thread_id"],
        "attachmentCount": len(attachments),
        "receivedAt": iso(row["received_at"]),
    }


def present_message(row: dict, attachments: list[dict]) -> dict:
    verdicts = row["verdicts"]
    return {
        **present_summary(row, attachments),
        "bcc": _mailbox_list(row["addresses"], "bcc"),
        "replyTo": _mailbox_list(row["addresses"], "replyTo"),
        "text": row["text_body"],
        "html": row["html_body"],
        "headers": row["headers"],
        "attachments": [present_attachment(a) for a in attachments],
        "spamVerdict": verdicts["spam"],
        "virusVerdict": verdicts["virus"],
        "spfVerdict": verdicts["spf"],
        "dkimVerdict": verdicts["dkim"],
        "dmarcVerdict": verdicts["dmarc"],
        "inReplyTo": row["in_reply_to"],
        "inReplyToEmailActivityId": row["in_reply_to_email_id"],
        "inReplyToInboundEmailId": row["in_reply_to_inbound_id"],
    }


async def list_messages(db: Database, project_id: str, filters: InboxFilter, page: Page) -> dict:
    filters = replace(filters, blocked=rules.BLOCKED)
    async with db.read() as conn:
        rows, total = await store.list_messages(
            conn, project_id, filters, offset=page.offset, limit=page.limit
        )
        attachments = await store.attachments_of(conn, [r["id"] for r in rows])
    return {
        "items": [present_summary(r, attachments[r["id"]]) for r in rows],
        "pagination": page.describe(total),
    }


def check_id(message_id: str) -> str:
    if not _ID.fullmatch(message_id or ""):
        raise _invalid("id")
    return message_id


async def _message(conn, project_id: str, message_id: str, *, raw: bool = False) -> dict:
    row = await store.get_message(conn, project_id, check_id(message_id), raw=raw)
    if row is None:
        raise _not_found()
    return row


async def get_message(db: Database, project_id: str, message_id: str) -> dict:
    async with db.read() as conn:
        row = await _message(conn, project_id, message_id)
        attachments = await store.attachments_of(conn, [row["id"]])
    return present_message(row, attachments[row["id"]])


def _attachment_ref(ref: str) -> dict:
    if _ATTACHMENT_ID.fullmatch(ref):
        return {"attachment_id": ref}
    if ref.isascii() and ref.isdigit() and len(ref) < 6:
        return {"position": int(ref)}
    raise _invalid("attachmentId")


async def attachment(db: Database, project_id: str, message_id: str, ref: str) -> dict:
    """The attachment row (with its bytes) named by its id or 0-based index."""
    async with db.read() as conn:
        row = await _message(conn, project_id, message_id)  # another project's message: 404 before anything
        found = await store.get_attachment(conn, row["id"], **_attachment_ref(ref))
    if found is None:
        raise NotFound("Attachment not found", code="ATTACHMENT_NOT_FOUND")
    return found


def signed_url(
    settings: Settings, kind: str, message_id: str, item: str, seconds: int, now: float | None = None
) -> str:
    expires = str(int((now or time.time()) + seconds))
    token = tokens.sign_web(settings.resolved_secret_key(), FILE_TOKEN, (kind, message_id, item, expires))
    return settings.public_url.rstrip("/") + DOWNLOAD_PATH + token


def attachment_link(settings: Settings, found: dict) -> dict:
    url = signed_url(settings, "attachment", found["inbound_message_id"], found["id"], ATTACHMENT_URL_SECONDS)
    return {
        **{k: v for k, v in present_attachment(found).items() if k != "index"},
        "downloadUrl": url,
        "expiresIn": ATTACHMENT_URL_SECONDS,
    }


async def raw_link(db: Database, settings: Settings, project_id: str, message_id: str) -> dict:
    async with db.read() as conn:
        row = await _message(conn, project_id, message_id)
    return {
        "url": signed_url(settings, "raw", row["id"], "raw", RAW_URL_SECONDS),
        "expiresIn": RAW_URL_SECONDS,
    }


async def raw_source(db: Database, project_id: str, message_id: str) -> bytes:
    async with db.read() as conn:
        return (await _message(conn, project_id, message_id, raw=True))["raw"]


async def download(db: Database, settings: Settings, token: str) -> tuple[str, str | None, bytes]:
    """(content type, filename, bytes) of a signed link that has not expired; else 404."""
    fields = tokens.verify_web(settings.resolved_secret_key(), FILE_TOKEN, token, 4)
    if fields is None or not fields[3].isdigit() or int(fields[3]) < time.time():
        raise NotFound("This download link is invalid or has expired", code="DOWNLOAD_NOT_FOUND")
    kind, message_id, item, _expires = fields
    found: dict[str, Any] | None
    async with db.read() as conn:
        if kind == "raw":
            raw = await store.raw_of(conn, message_id)
            found = {"content_type": "message/rfc822", "filename": f"{message_id}.eml", "content": raw}
        else:
            found = await store.get_attachment(conn, message_id, attachment_id=item)
    if found is None or found["content"] is None:
        raise NotFound("This download link is invalid or has expired", code="DOWNLOAD_NOT_FOUND")
    return found["content_type"], found["filename"], found["content"]


# --- replying -------------------------------------------------------------------------------


def reply_subject(original: str | None) -> str:
    subject = (original or "").strip()
    return subject if re.match(r"^re:", subject, re.IGNORECASE) else f"Re: {subject}".strip()


def threading_headers(row: dict) -> dict[str, str]:
    """In-Reply-To and References of a reply to `row` (References trimmed to fit one header)."""
    parent = row["message_id_header"]
    if not parent:
        return {}
    refs = [*rules.parse_references(row["headers"].get("references", "")), parent]
    while len(" ".join(refs)) > MAX_REFERENCES_CHARS and len(refs) > 1:
        refs.pop(0)
    return {"In-Reply-To": parent, "References": " ".join(refs)}


def _reply_body(row: dict, body: dict) -> dict:
    sender = body.get("from")
    if not isinstance(sender, dict) or not sender.get("email"):
        raise InvalidInput.field("from", "A `from` address is required to reply")
    if not body.get("html") and not body.get("text"):
        raise InvalidInput.field("html", "html or text is required")
    recipient = (row["addresses"].get("replyTo") or [None])[0] or (
        {"email": row["from_email"], "name": row["from_name"]} if row["from_email"] else None
    )
    if recipient is None:
        raise _not_found()
    return {
        **{k: body[k] for k in ("cc", "bcc", "attachments", "html", "text") if body.get(k) is not None},
        "from": sender,
        "to": [recipient],
        "subject": body.get("subject") or reply_subject(row["subject"]),
        "headers": threading_headers(row),
    }


async def reply(db: Database, settings: Settings, project_id: str, message_id: str, body: dict) -> dict:
    """Queue a threaded reply; AutoSend's {emailId, message, status: QUEUED, totalRecipients}."""
    async with db.read() as conn:
        row = await _message(conn, project_id, message_id)
    if row["status"] in rules.BLOCKED:
        raise _not_found()
    sent = await transactional.send_mail(db, settings, project_id, _reply_body(row, body))
    async with db.write() as conn:
        ledger = await mail_store.get_transactional(conn, project_id, sent["emailId"])
        assert ledger is not None  # queued just above
        await store.insert_reply(
            conn,
            {
                "email_id": sent["emailId"],
                "project_id": project_id,
                "inbound_message_id": row["id"],
                "thread_id": row["thread_id"],
                "message_id_header": ledger["message_id_header"],
                "created_at": utcnow(),
            },
        )
    return {
        "emailId": sent["emailId"],
        "message": transactional.QUEUED_MESSAGE,
        "status": "QUEUED",
        "totalRecipients": sent["totalRecipients"],
    }


def parse_date(value: str | None, field: str) -> datetime | None:
    if value is None:
        return None
    try:
        found = datetime.fromisoformat(value)
    except ValueError:
        raise _invalid(field) from None
    return found if found.tzinfo else found.replace(tzinfo=utcnow().tzinfo)
