"""Receiving mail: which project an address belongs to, and storing a received message.

An address is received for a project when its domain is one of the project's sending domains
with inbound enabled (POST /v1/domains/{id}/inbound/enable), or the project's default receiving
domain `<project id>.<bounce domain>` (any local part); other addresses are refused at RCPT TO.

A message is received in two steps (AutoSend's PROCESSING, then a final status):
1. store_received: its raw bytes and envelope are kept, one row per project, as PROCESSING
   (nothing parsed yet; verdicts GRAY), in one commit. From then on it is never lost.
2. process: it is parsed once, in a thread (domain/inbound_mail), checked for SPF, DKIM and DMARC
   in a thread (delivery/mailauth), threaded, and each row gets its fields, attachments and final
   status in one transaction (a conditional UPDATE of a PROCESSING row, so it happens once):
   - BLOCKED_UNROUTED: no route to the project applies any more to its recipients, i.e. the
     domain's inbound was disabled (or the project deleted) between RCPT TO and processing;
   - FAILED: the message cannot be parsed (its raw bytes are kept);
   - BLOCKED_UNVERIFIED: its domain's MX has not been seen pointing here yet;
   - PROCESSED: announced with the `email.received` webhook (the only status that is).
   Blocked messages are listed only with includeBlocked. A failure in step 2 leaves the row
   PROCESSING; recover() (the housekeeping duty) processes such rows again once they are
   STALE_AFTER old, and marks FAILED those still PROCESSING after GIVE_UP_AFTER and those whose
   second processing raises or times out, so no message stays PROCESSING for ever.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

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
STALE_AFTER = timedelta(minutes=2)  # PROCESSING this long: the process that stored it died
GIVE_UP_AFTER = timedelta(hours=1)  # PROCESSING this long: FAILED without another try
RECOVER_BATCH = 20  # messages processed again per housekeeping pass
PROCESS_TIMEOUT = 120.0  # seconds one message may take to be processed again


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


@dataclass(frozen=True)
class Stored:
    """A message kept as PROCESSING: what processing it needs."""

    id: str
    project_id: str
    envelope: dict  # {mailFrom, rcptTo (this project's recipients), clientIp, helo}
    raw: bytes
    received_at: datetime


async def receive(
    db: Database, settings: Settings, envelope: Envelope, raw: bytes, routes: list[Route]
) -> list[str]:
    """Store one delivery for each project among `routes`, then process it; the stored message ids.
    Once stored the message is never lost: a failure while processing leaves it PROCESSING, and
    recover() (housekeeping) processes it again."""
    stored = await store_received(db, envelope, raw, routes)
    try:
        await process(db, settings, stored)
    except Exception:
        log.exception("processing a received message failed; housekeeping will process it again")
    return [item.id for item in stored]


async def store_received(db: Database, envelope: Envelope, raw: bytes, routes: list[Route]) -> list[Stored]:
    """Step 1: keep the raw message as PROCESSING for each project among `routes` (one commit)."""
    by_project: dict[str, list[Route]] = {}
    for r in routes:
        by_project.setdefault(r.project_id, []).append(r)
    stored, now = [], utcnow()
    async with db.write() as conn:
        for project_id, project_routes in by_project.items():
            row = _processing_row(ids.new_id(), project_id, project_routes, envelope, raw, now)
            await store.insert_message(conn, row, [])
            stored.append(Stored(row["id"], project_id, row["envelope"], raw, now))
    return stored


async def process(db: Database, settings: Settings, stored: list[Stored]) -> None:
    """Step 2: parse and judge the message once (in threads), then give each stored row its
    fields and final status, with the routes that apply now."""
    if not stored:
        return
    parsed, verdicts = await _judge(settings, stored[0].raw, stored[0].envelope)
    for item in stored:
        routes = await _routes_now(db, settings, item)
        async with db.write() as conn:
            await _finish(conn, item, routes, parsed, verdicts)


async def _judge(
    settings: Settings, raw: bytes, envelope: dict
) -> tuple[rules.ParsedMail | None, mailauth.Verdicts]:
    parsed = await asyncio.to_thread(_parse, raw)
    verdicts = await asyncio.to_thread(
        mailauth.verdicts,
        raw,
        ip=envelope["clientIp"],
        mail_from=envelope["mailFrom"],
        helo=envelope["helo"],
        from_domain=parsed.from_domain if parsed else "",
        resolver_address=settings.dns_resolver,
    )
    return parsed, verdicts


async def _routes_now(db: Database, settings: Settings, item: Stored) -> list[Route]:
    """The routes of the message's recipients to its project as they are now (a domain whose
    inbound was disabled since RCPT TO routes nothing)."""
    by_domain = {a.rpartition("@")[2].lower(): a for a in item.envelope["rcptTo"]}  # routes go by domain
    found = [await route(db, settings, address) for address in by_domain.values()]
    return [r for r in found if r is not None and r.project_id == item.project_id]


async def _finish(
    conn, item: Stored, routes: list[Route], parsed: rules.ParsedMail | None, verdicts: mailauth.Verdicts
) -> None:
    mail = parsed or rules.ParsedMail()
    match = await store.find_thread(conn, item.project_id, mail.thread_refs())
    status = _status(parsed, routes)
    values = {
        **_parsed_values(mail, verdicts, status),
        "thread_id": match.thread_id or item.id,
        "in_reply_to_email_id": match.email_id,
        "in_reply_to_inbound_id": match.inbound_id,
    }
    if not await store.finish_processing(conn, item.id, values):
        return  # another process finished it first
    attachments = [_attachment_row(item.id, i, a) for i, a in enumerate(mail.attachments)]
    await store.insert_attachments(conn, attachments)
    if status == rules.PROCESSED:
        row = {**values, "id": item.id, "received_at": item.received_at}
        data = _webhook_data(row, attachments, match)
        await emit(conn, item.project_id, "email.received", data, now=item.received_at)


def _status(parsed: rules.ParsedMail | None, routes: list[Route]) -> str:
    if not routes:
        return rules.BLOCKED_UNROUTED
    if parsed is None:
        return rules.FAILED
    return rules.PROCESSED if any(r.verified for r in routes) else rules.BLOCKED_UNVERIFIED


async def recover(db: Database, settings: Settings, now: datetime, *, limit: int = RECOVER_BATCH) -> int:
    """Housekeeping: up to `limit` messages left PROCESSING for STALE_AFTER by a process that died
    between storing and processing them, oldest first: those older than GIVE_UP_AFTER become
    FAILED, the others are processed again, one at a time. How many it took (0: no write at all)."""
    async with db.read() as conn:
        stale = await store.stale_processing(conn, now - STALE_AFTER, limit)
    for message_id, received_at in stale:
        if received_at < now - GIVE_UP_AFTER:
            await _give_up(db, message_id)
        else:
            await _process_again(db, settings, message_id)
    return len(stale)


async def _give_up(db: Database, message_id: str) -> None:
    async with db.write() as conn:
        await store.fail_processing(conn, message_id)


async def _process_again(db: Database, settings: Settings, message_id: str) -> None:
    async with db.read() as conn:
        row = await store.processing_message(conn, message_id)
    if row is None:
        return  # finished meanwhile
    item = Stored(row["id"], row["project_id"], row["envelope"], row["raw"], row["received_at"])
    try:
        await asyncio.wait_for(process(db, settings, [item]), PROCESS_TIMEOUT)
    except Exception:
        log.exception("processing a received message again failed; it is kept as FAILED")
        await _give_up(db, message_id)


def _processing_row(
    message_id: str, project_id: str, routes: list[Route], envelope: Envelope, raw: bytes, now: datetime
) -> dict:
    """The row of a message just received: raw bytes and envelope, nothing parsed yet."""
    return {
        "id": message_id,
        "project_id": project_id,
        "domain_name": routes[0].domain_name,
        "addresses": rules.ParsedMail().addresses,
        "headers": {},
        "verdicts": dict.fromkeys(("spf", "dkim", "dmarc", "spam", "virus"), NO_VERDICT),
        "status": rules.PROCESSING,
        "thread_id": message_id,
        "envelope": {
            "mailFrom": envelope.mail_from,
            "rcptTo": [
                a
                for a in envelope.rcpt_tos
                if a.rpartition("@")[2].lower().rstrip(".") in {r.domain_name for r in routes}
            ],
            "clientIp": envelope.client_ip,
            "helo": envelope.helo,
        },
        "size": len(raw),
        "raw": raw,
        "received_at": now,
    }


def _parsed_values(mail: rules.ParsedMail, verdicts: mailauth.Verdicts, status: str) -> dict:
    return {
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
