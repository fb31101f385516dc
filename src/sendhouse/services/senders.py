"""Authenticated senders, and the rule every `from` address obeys when verified domains are required."""

from __future__ import annotations

from sendhouse.config import Settings
from sendhouse.domain import emails, ids
from sendhouse.domain.times import utcnow
from sendhouse.errors import AppError, Conflict, InvalidOperation, NotFound
from sendhouse.store import domains as domain_store
from sendhouse.store import senders as store
from sendhouse.store.db import Database

NEEDS_VERIFIED_DOMAIN = "A verified domain is required before adding an authenticated sender"


def present_sender(row: dict) -> dict:
    """AutoSend's sender object (`replyTo` is "" when unset)."""
    return {
        "id": row["id"],
        "email": row["email"],
        "name": row["name"] or "",
        "replyTo": row["reply_to"] or "",
    }


def domain_candidates(email: str) -> list[str]:
    """The address's domain and its parent domains (a verified parent covers its subdomains)."""
    labels = email.rpartition("@")[2].lower().split(".")
    return [".".join(labels[i:]) for i in range(max(len(labels) - 1, 1))]


async def _has_verified_domain(conn, project_id: str, email: str) -> bool:
    for name in domain_candidates(email):
        if await domain_store.find_verified(conn, project_id, name):
            return True
    return False


def needs_verified_domain(email: str, *, field: str, message: str | None = None) -> InvalidOperation:
    """AutoSend's refusal of an address whose domain is not a VERIFIED domain of the project."""
    domain = email.rpartition("@")[2]
    text = message or f"A verified domain is required before sending from {domain}"
    return InvalidOperation(
        text,
        code="VERIFIED_DOMAIN_REQUIRED",
        details=[{"field": field, "message": f"{domain} is not a verified domain of this project"}],
    )


async def require_verified(conn, project_id: str, email: str, *, field: str = "from.email") -> None:
    """Refuse `email` unless its domain (or a parent) is a VERIFIED domain of the project."""
    if not await _has_verified_domain(conn, project_id, email):
        raise needs_verified_domain(email, field=field)


async def check_from_allowed(conn, settings: Settings, project_id: str, email: str) -> None:
    """Refuse a `from` address whose domain is not a VERIFIED domain of the project, when that is required."""
    if settings.verified_domain_required():
        await require_verified(conn, project_id, email)


async def check_from_once(
    conn, settings: Settings, project_id: str, address: str, refusals: dict[str, AppError | None]
) -> None:
    """check_from_allowed with its outcome kept per domain in `refusals` (the refusal names the
    domain only), for many messages checked together."""
    domain = address.rpartition("@")[2].lower()
    if domain not in refusals:
        try:
            await check_from_allowed(conn, settings, project_id, address)
            refusals[domain] = None
        except AppError as error:
            refusals[domain] = error
    if (refusal := refusals[domain]) is not None:
        raise refusal


async def create_sender(
    db: Database,
    settings: Settings,
    project_id: str,
    *,
    email: str,
    name: str | None = None,
    reply_to: str | None = None,
) -> dict:
    """Add an authenticated sender; 409 when the project already has this address."""
    email = emails.key(email, "email")
    reply_to = emails.normalized(reply_to, "replyTo") if reply_to else None
    now = utcnow()
    row = {
        "id": ids.new_id(),
        "project_id": project_id,
        "email": email,
        "name": name or None,
        "reply_to": reply_to,
        "created_at": now,
        "updated_at": now,
    }
    async with db.write() as conn:
        if settings.verified_domain_required() and not await _has_verified_domain(conn, project_id, email):
            raise needs_verified_domain(email, field="email", message=NEEDS_VERIFIED_DOMAIN)
        if not await store.insert_sender(conn, row):
            raise Conflict(
                "An authenticated sender with this email already exists",
                code="AUTHENTICATED_SENDER_ALREADY_EXISTS",
            )
    return {"sender": present_sender(row), "projectId": project_id}


def _not_found() -> NotFound:
    return NotFound("Authenticated sender not found", code="AUTHENTICATED_SENDER_NOT_FOUND")


async def get_sender(db: Database, project_id: str, sender_id: str) -> dict:
    async with db.read() as conn:
        row = await store.get_sender(conn, project_id, sender_id)
    if row is None:
        raise _not_found()
    return present_sender(row)


async def list_senders(db: Database, project_id: str) -> list[dict]:
    async with db.read() as conn:
        return [present_sender(r) for r in await store.list_senders(conn, project_id)]


async def delete_sender(db: Database, project_id: str, sender_id: str) -> None:
    """Delete a sender that no live template and no unfinished campaign uses."""
    async with db.write() as conn:
        if await store.delete_unused_sender(conn, project_id, sender_id):
            return
        if await store.get_sender(conn, project_id, sender_id) is None:
            raise _not_found()
    raise InvalidOperation(
        "This authenticated sender is used in templates or campaigns that are not finished",
        code="AUTHENTICATED_SENDER_IN_USE",
    )
