"""Queries on inbound mail: receiving domains, received messages and their attachments, the
replies that thread with them, and SMTP submission keys."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from sendhouse.domain.filters import InboxFilter
from sendhouse.domain.inbound_mail import FAILED, PROCESSING
from sendhouse.store.schema.campaigns import messages
from sendhouse.store.schema.inbound import (
    inbound_attachments,
    inbound_domains,
    inbound_messages,
    inbound_replies,
    smtp_keys,
)

SUMMARY_COLUMNS = [c for c in inbound_messages.c if c.name not in ("raw", "text_body", "html_body")]


def _one(result) -> dict | None:
    row = result.mappings().first()
    return dict(row) if row else None


# --- receiving domains ----------------------------------------------------------------------


async def receiving_domain(conn: AsyncConnection, name: str) -> dict | None:
    query = sa.select(inbound_domains).where(inbound_domains.c.domain_name == name.lower())
    return _one(await conn.execute(query))


async def inbound_states(conn: AsyncConnection, domain_ids: list[str]) -> dict[str, dict]:
    if not domain_ids:
        return {}
    query = sa.select(inbound_domains).where(inbound_domains.c.domain_id.in_(domain_ids))
    return {r["domain_id"]: dict(r) for r in (await conn.execute(query)).mappings()}


async def enable_domain(conn: AsyncConnection, row: dict) -> bool:
    """Enable inbound for a domain; False when another project already receives for its name."""
    try:
        async with conn.begin_nested():
            await conn.execute(inbound_domains.insert().values(**row))
    except IntegrityError:
        return False
    return True


async def disable_domain(conn: AsyncConnection, domain_id: str) -> None:
    await conn.execute(inbound_domains.delete().where(inbound_domains.c.domain_id == domain_id))


async def mark_verified(conn: AsyncConnection, domain_id: str, at: datetime) -> None:
    await conn.execute(
        inbound_domains.update()
        .where(inbound_domains.c.domain_id == domain_id, inbound_domains.c.verified_at.is_(None))
        .values(verified_at=at)
    )


# --- messages -------------------------------------------------------------------------------


async def insert_message(conn: AsyncConnection, row: dict, attachments: list[dict]) -> None:
    await conn.execute(inbound_messages.insert().values(**row))
    await insert_attachments(conn, attachments)


async def insert_attachments(conn: AsyncConnection, attachments: list[dict]) -> None:
    if attachments:
        await conn.execute(inbound_attachments.insert(), attachments)


async def finish_processing(conn: AsyncConnection, message_id: str, values: dict) -> bool:
    """Give a PROCESSING message its parsed fields and final status; False when it is no longer
    PROCESSING (another process finished it first)."""
    stmt = (
        inbound_messages.update()
        .where(inbound_messages.c.id == message_id, inbound_messages.c.status == PROCESSING)
        .values(**values)
    )
    return (await conn.execute(stmt)).rowcount == 1


async def stale_processing(conn: AsyncConnection, before: datetime, limit: int) -> list[tuple[str, datetime]]:
    """(id, received_at) of messages still PROCESSING that were received before `before`, oldest first."""
    c = inbound_messages.c
    query = (
        sa.select(c.id, c.received_at)
        .where(c.status == PROCESSING, c.received_at < before)
        .order_by(c.received_at, c.id)
        .limit(limit)
    )
    return [(row.id, row.received_at) for row in await conn.execute(query)]


async def processing_message(conn: AsyncConnection, message_id: str) -> dict | None:
    """What processing a message needs (its raw bytes and envelope), while it is PROCESSING."""
    c = inbound_messages.c
    query = sa.select(c.id, c.project_id, c.envelope, c.raw, c.received_at).where(
        c.id == message_id, c.status == PROCESSING
    )
    return _one(await conn.execute(query))


async def fail_processing(conn: AsyncConnection, message_id: str) -> bool:
    """Mark FAILED a message still PROCESSING; False when it is not."""
    c = inbound_messages.c
    stmt = inbound_messages.update().where(c.id == message_id, c.status == PROCESSING).values(status=FAILED)
    return (await conn.execute(stmt)).rowcount == 1


@dataclass(frozen=True)
class ThreadMatch:
    thread_id: str | None = None
    inbound_id: str | None = None
    email_id: str | None = None


async def find_thread(conn: AsyncConnection, project_id: str, refs: list[str]) -> ThreadMatch:
    """The conversation the first matching reference belongs to (earlier inbound mail, or a reply
    or other mail this project sent)."""
    for ref in refs[:50]:
        found = await _match(conn, project_id, ref)
        if found is not None:
            return found
    return ThreadMatch()


async def _match(conn: AsyncConnection, project_id: str, ref: str) -> ThreadMatch | None:
    received = _one(
        await conn.execute(
            sa.select(inbound_messages.c.id, inbound_messages.c.thread_id)
            .where(inbound_messages.c.project_id == project_id, inbound_messages.c.message_id_header == ref)
            .order_by(inbound_messages.c.received_at)
            .limit(1)
        )
    )
    if received:
        return ThreadMatch(thread_id=received["thread_id"], inbound_id=received["id"])
    reply = _one(
        await conn.execute(
            sa.select(inbound_replies)
            .where(inbound_replies.c.project_id == project_id, inbound_replies.c.message_id_header == ref)
            .limit(1)
        )
    )
    if reply:
        return ThreadMatch(thread_id=reply["thread_id"], email_id=reply["email_id"])
    sent = (
        await conn.execute(
            sa.select(messages.c.id)
            .where(messages.c.project_id == project_id, messages.c.message_id_header == ref)
            .limit(1)
        )
    ).scalar()
    return ThreadMatch(email_id=sent) if sent else None


def _conditions(project_id: str, f: InboxFilter) -> list:
    c = inbound_messages.c
    where = [c.project_id == project_id]
    if f.from_email:
        where.append(sa.func.lower(c.from_email) == f.from_email.lower())
    if f.to_email:  # the quoted address inside the stored recipient lists
        where.append(
            sa.func.lower(sa.cast(c.addresses, sa.Text)).contains(f'"{f.to_email.lower()}"', autoescape=True)
        )
    if f.thread_id:
        where.append(c.thread_id == f.thread_id)
    if f.search:
        where.append(sa.func.lower(c.subject).contains(f.search.lower(), autoescape=True))
    if f.date_from:
        where.append(c.received_at >= f.date_from)
    if f.date_to:
        where.append(c.received_at <= f.date_to)
    if not f.include_blocked:
        where.append(c.status.not_in(f.blocked))
    return where


async def list_messages(
    conn: AsyncConnection, project_id: str, f: InboxFilter, *, offset: int, limit: int
) -> tuple[list[dict], int]:
    """One page of matching messages' summary columns, newest first, and the number matching."""
    where = _conditions(project_id, f)
    total = (
        await conn.execute(sa.select(sa.func.count()).select_from(inbound_messages).where(*where))
    ).scalar_one()
    query = (
        sa.select(*SUMMARY_COLUMNS)
        .where(*where)
        .order_by(inbound_messages.c.received_at.desc(), inbound_messages.c.id.desc())
        .offset(offset)
        .limit(limit)
    )
    return [dict(r) for r in (await conn.execute(query)).mappings()], total


async def get_message(
    conn: AsyncConnection, project_id: str, message_id: str, *, raw: bool = False
) -> dict | None:
    columns = list(inbound_messages.c) if raw else [c for c in inbound_messages.c if c.name != "raw"]
    query = sa.select(*columns).where(
        inbound_messages.c.project_id == project_id, inbound_messages.c.id == message_id
    )
    return _one(await conn.execute(query))


async def raw_of(conn: AsyncConnection, message_id: str) -> bytes | None:
    query = sa.select(inbound_messages.c.raw).where(inbound_messages.c.id == message_id)
    return (await conn.execute(query)).scalar()


async def attachments_of(conn: AsyncConnection, message_ids: list[str]) -> dict[str, list[dict]]:
    """message id → its attachments' metadata (no bytes), in order."""
    if not message_ids:
        return {}
    a = inbound_attachments.c
    query = (
        sa.select(a.id, a.inbound_message_id, a.position, a.filename, a.content_type, a.size)
        .where(a.inbound_message_id.in_(message_ids))
        .order_by(a.inbound_message_id, a.position)
    )
    found: dict[str, list[dict]] = {m: [] for m in message_ids}
    for row in (await conn.execute(query)).mappings():
        found[row["inbound_message_id"]].append(dict(row))
    return found


async def get_attachment(
    conn: AsyncConnection, message_id: str, *, attachment_id: str | None = None, position: int | None = None
) -> dict | None:
    a = inbound_attachments.c
    which = a.id == attachment_id if attachment_id is not None else a.position == position
    return _one(
        await conn.execute(sa.select(inbound_attachments).where(a.inbound_message_id == message_id, which))
    )


async def insert_reply(conn: AsyncConnection, row: dict) -> None:
    await conn.execute(inbound_replies.insert().values(**row))


# --- SMTP keys ------------------------------------------------------------------------------


async def insert_smtp_key(conn: AsyncConnection, row: dict) -> None:
    await conn.execute(smtp_keys.insert().values(**row))


async def smtp_key_by_hash(conn: AsyncConnection, key_hash: str) -> dict | None:
    query = sa.select(smtp_keys).where(smtp_keys.c.key_hash == key_hash, smtp_keys.c.revoked_at.is_(None))
    return _one(await conn.execute(query))


async def list_smtp_keys(conn: AsyncConnection, project_id: str) -> list[dict]:
    query = (
        sa.select(smtp_keys)
        .where(smtp_keys.c.project_id == project_id, smtp_keys.c.revoked_at.is_(None))
        .order_by(smtp_keys.c.created_at, smtp_keys.c.id)
    )
    return [dict(r) for r in (await conn.execute(query)).mappings()]


async def revoke_smtp_key(conn: AsyncConnection, project_id: str, key_id: str, now: datetime) -> bool:
    stmt = (
        smtp_keys.update()
        .where(
            smtp_keys.c.id == key_id, smtp_keys.c.project_id == project_id, smtp_keys.c.revoked_at.is_(None)
        )
        .values(revoked_at=now)
    )
    return (await conn.execute(stmt)).rowcount == 1


async def touch_smtp_key(conn: AsyncConnection, key_id: str, now: datetime) -> None:
    await conn.execute(smtp_keys.update().where(smtp_keys.c.id == key_id).values(last_used_at=now))
