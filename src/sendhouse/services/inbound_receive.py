"""Receiving mail: which project an address belongs to, and storing a received message.

An address is received for a project when its domain is one of the project's sending domains
with inbound enabled (POST /v1/domains/{id}/inbound/enable), or the project's default receiving
domain `<project id>.<bounce domain>` (any local part). A message is parsed once, in a thread
(domain/inbound_mail), checked for SPF, DKIM and DMARC in a thread (delivery/mailauth), then
stored whole (raw bytes, bodies, headers, attachments) in one transaction per delivery with its
thread and status, and announced with the `email.received` webhook. Mail to a domain whose MX
has not been seen pointing here yet is kept as BLOCKED_UNVERIFIED (listed with includeBlocked,
no webhook); a message that cannot be parsed is kept as FAILED with its raw bytes.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from sendhouse.config import Settings
from sendhouse.delivery import mailauth
from sendhouse.domain import ids
from sendhouse.domain import inbound_mail as rules
from sendhouse.domain import webhooks as webhook_rules
from sendhouse.domain.times import utcnow
from sendhouse.services.webhooks import emit
from sendhouse.store import inbound as store
from sendhouse.store import projects as project_store
from sendhouse.store.db import Database

log = logging.getLogger("sendhouse.inbound")
NO_VERDICT = "GRAY"  # no spam or virus scanner runs here


@dataclass(frozen=True)
class Route:
    """Where one recipient address is received."""

    project_id: str
    domain_name: str
    verified: bool


@dataclass(frozen=True)
class Envelope:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    client_ip: str
    helo: str


def default_domain(settings: Settings, project_id: str) -> str:
    """The project's own receiving domain (its MX is the bounce domain's: publish *.<bounce domain>)."""
    return f"{project_id}.{settings.resolved_bounce_domain().lower()}"


async def route(db: Database, settings: Settings, address: str) -> Route | None:
    """The project receiving mail for `address`, or None (refused at RCPT)."""
    local, _, domain = address.rpartition("@")
    domain = domain.lower().rstrip(".")
    if not local or not domain:
        return None
    project_id, dot, rest = domain.partition(".")
    async with db.read() as conn:
        if dot and rest == settings.resolved_bounce_domain().lower() and len(project_id) == 24:
            project = await project_store.get_project(conn, project_id)
            return Route(project_id, domain, True) if project and not project["deleted_at"] else None
        found = await store.receiving_domain(conn, domain)
    return Route(found["project_id"], domain, found["verified_at"] is not None) if found else None


def _parse(raw: bytes) -> rules.ParsedMail | None:
    try:
        return rules.parse(raw)
    except Exception:
        log.warning("a received message could not be parsed; kept raw", exc_info=True)
        return None


async def receive(
    db: Database, settings: Settings, envelope: Envelope, raw: bytes, routes: list[Route]
) -> list[str]:
    """Store one delivery for each project among `routes`; the stored message ids."""
    parsed = await asyncio.to_thread(_parse, raw)
    verdicts = await asyncio.to_thread(
        mailauth.verdicts,
        raw,
        ip=envelope.client_ip,
        mail_from=envelope.mail_from,
        helo=envelope.helo,
        from_domain=parsed.from_domain if parsed else "",
        resolver_address=settings.dns_resolver,
    )
    by_project: dict[str, list[Route]] = {}
    for r in routes:
        by_project.setdefault(r.project_id, []).append(r)
    stored = []
    async with db.write() as conn:
        for project_id, project_routes in by_project.items():
            stored.append(await _store(conn, project_id, project_routes, envelope, raw, parsed, verdicts))
    return stored


async def _store(
    conn,
    project_id: str,
    routes: list[Route],
    envelope: Envelope,
    raw: bytes,
    parsed: rules.ParsedMail | None,
    verdicts: mailauth.Verdicts,
) -> str:
    mail = parsed or rules.ParsedMail()
    message_id, now = ids.new_id(), utcnow()
    match = await store.find_thread(conn, project_id, mail.thread_refs())
    status = _status(parsed, routes)
    row = _message_row(message_id, project_id, routes, envelope, raw, mail, verdicts, status, now)
    row.update(
        thread_id=match.thread_id or message_id,
        in_reply_to_email_id=match.email_id,
        in_reply_to_inbound_id=match.inbound_id,
    )
    attachments = [_attachment_row(message_id, i, a) for i, a in enumerate(mail.attachments)]
    await store.insert_message(conn, row, attachments)
    if status == rules.PROCESSED:
        await emit(conn, project_id, "email.received", _webhook_data(row, attachments, match), now=now)
    return message_id


def _status(parsed: rules.ParsedMail | None, routes: list[Route]) -> str:
    if parsed is None:
        return rules.FAILED
    return rules.PROCESSED if any(r.verified for r in routes) else rules.BLOCKED_UNVERIFIED


def _message_row(
    message_id: str,
    project_id: str,
    routes: list[Route],
    envelope: Envelope,
    raw: bytes,
    mail: rules.ParsedMail,
    verdicts: mailauth.Verdicts,
    status: str,
    now,
) -> dict:
    return {
        "id": message_id,
        "project_id": project_id,
        "domain_name": routes[0].domain_name,
        "message_id_header": mail.message_id,
        "from_email": mail.from_email,
        "from_name": mail.from_name,
        "addresses": mail.addresses,
        "subject": mail.subject,
        "text_body": mail.text,
        "html_body": mail.html,
        "headers": mail.headers,
        "status": status,
        "in_reply_to": mail.in_reply_to,
        "verdicts": {
            "spf": verdicts.spf,
            "dkim": verdicts.dkim,
            "dmarc": verdicts.dmarc,
            "spam": NO_VERDICT,
            "virus": NO_VERDICT,
        },
        "envelope": {
            "mailFrom": envelope.mail_from,
            "rcptTo": [
                a
                for a in envelope.rcpt_tos
                if a.rpartition("@")[2].lower() in {r.domain_name for r in routes}
            ],
            "clientIp": envelope.client_ip,
            "helo": envelope.helo,
        },
        "size": len(raw),
        "raw": raw,
        "received_at": now,
    }


def _attachment_row(message_id: str, position: int, attachment: rules.Attachment) -> dict:
    return {
        "id": "att_" + ids.new_id(),
        "inbound_message_id": message_id,
        "position": position,
        "filename": attachment.filename,
        "content_type": attachment.content_type,
        "size": len(attachment.content),
        "content": attachment.content,
    }


def _webhook_data(row: dict, attachments: list[dict], match: store.ThreadMatch) -> dict:
    return webhook_rules.received_data(
        inbound_email_id=row["id"],
        from_email=row["from_email"],
        from_name=row["from_name"],
        to=row["addresses"]["to"],
        cc=row["addresses"]["cc"],
        subject=row["subject"],
        attachments=[
            {
                "attachmentId": a["id"],
                "attachmentIndex": a["position"],
                "filename": a["filename"],
                "contentType": a["content_type"],
                "size": a["size"],
            }
            for a in attachments
        ],
        spam_verdict=NO_VERDICT,
        virus_verdict=NO_VERDICT,
        received_at=row["received_at"],
        thread_id=match.thread_id,
        in_reply_to_email_activity_id=match.email_id,
        in_reply_to_inbound_email_id=match.inbound_id,
    )
