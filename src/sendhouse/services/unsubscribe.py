"""Unsubscribes (RFC 8058 one-click, the confirm page, the List-Unsubscribe mailto) and the hosted
preference page: what a recipient can do with the signed token of a message they received.

- unsubscribe: suppression reason UNSUBSCRIBE in the message's unsubscribe group (the global group
  when it has none, or when that group is gone or inactive), an `unsubscribed` event on the ledger
  row, webhook email.unsubscribed (global) or email.group_unsubscribed. Doing it twice changes
  nothing the second time.
- preferences: the project's active groups for the address; unsubscribe from one, or resubscribe
  (lifts only an UNSUBSCRIBE entry, never a bounce or complaint; webhook email.group_resubscribed).
Tokens are verified by the caller (web/tracking.py); a token names project, address, group, row.
The suppression, event, webhook and log event of a change are written by services/feedback.record.
"""

from __future__ import annotations

from datetime import datetime

from sendhouse.domain.emails import key_of
from sendhouse.domain.fates import Resubscribed, Unsubscribed
from sendhouse.domain.times import utcnow
from sendhouse.domain.tokens import UnsubscribeTarget
from sendhouse.errors import InvalidInput, NotFound
from sendhouse.services import feedback
from sendhouse.store import events as store
from sendhouse.store import suppressions as groups_store
from sendhouse.store.db import Database

ACTIONS = ("unsubscribe", "resubscribe")


async def _group(conn, project_id: str, code: str | None) -> dict:
    """The named active group, else the project's global group."""
    found = await groups_store.get_group(conn, project_id, code) if code else None
    if found is None or not found["is_active"]:
        found = await groups_store.global_group(conn, project_id)
    if found is None:
        raise NotFound("This unsubscribe link is no longer valid", code="UNSUBSCRIBE_LINK_INVALID")
    return found


def _brief(group: dict) -> dict:
    return {"groupId": group["group_code"], "name": group["name"], "isGlobal": bool(group["is_global"])}


async def unsubscribe(
    db: Database, target: UnsubscribeTarget, *, group_code: str | None = None, now: datetime | None = None
) -> dict:
    """Unsubscribe the token's address from its group (or `group_code`, from the preference page)."""
    now = now or utcnow()
    async with db.write() as conn:
        group = await _group(conn, target.project_id, group_code or target.group)
        entries = await store.preference_groups(conn, target.project_id, target.email)
        if any(e["id"] == group["id"] and e["reason"] for e in entries):
            return {"email": target.email, "group": _brief(group), "changed": False}
        await _record(conn, target, group, Unsubscribed, now)
    return {"email": target.email, "group": _brief(group), "changed": True}


async def resubscribe(
    db: Database, target: UnsubscribeTarget, group_code: str, *, now: datetime | None = None
) -> dict:
    """Lift the address's UNSUBSCRIBE entry in one group (from the preference page)."""
    now = now or utcnow()
    async with db.write() as conn:
        group = await groups_store.get_group(conn, target.project_id, group_code)
        if group is None or not group["is_active"]:
            raise NotFound("Suppression group not found", code="GROUP_NOT_FOUND")
        changed = await store.delete_unsubscribe(conn, group["id"], target.email)
        if changed:
            await _record(conn, target, group, Resubscribed, now)
    return {"email": target.email, "group": _brief(group), "changed": changed}


async def _record(
    conn, target: UnsubscribeTarget, group: dict, fate: type[Unsubscribed], now: datetime
) -> None:
    """The fate of the message the token names (event, webhook, log event) through services/feedback."""
    row = await store.message_row(conn, target.message_id, target.project_id)
    await feedback.record(conn, [fate(row, target=target, group=group)], now=now)


async def preferences(db: Database, target: UnsubscribeTarget) -> dict:
    """{email, groups: [{groupId, name, description, isGlobal, subscribed, canResubscribe}]}."""
    async with db.read() as conn:
        found = await store.preference_groups(conn, target.project_id, target.email)
    return {"email": target.email, "groups": [_preference(g) for g in found]}


def _preference(group: dict) -> dict:
    reason = group["reason"]
    return {
        "groupId": group["group_code"],
        "name": group["name"],
        "description": group["description"],
        "isGlobal": bool(group["is_global"]),
        "subscribed": reason is None,
        "reason": reason,
        "canResubscribe": reason == "UNSUBSCRIBE",
    }


async def set_preference(db: Database, target: UnsubscribeTarget, *, action: str, group_code: str) -> dict:
    """The preference page's buttons: unsubscribe from or resubscribe to one group."""
    if action not in ACTIONS:
        raise InvalidInput.field("action", f"must be one of {', '.join(ACTIONS)}")
    if action == "resubscribe":
        return await resubscribe(db, target, group_code)
    async with db.read() as conn:
        group = await groups_store.get_group(conn, target.project_id, group_code)
    if group is None or not group["is_active"]:
        raise NotFound("Suppression group not found", code="GROUP_NOT_FOUND")
    return await unsubscribe(db, target, group_code=group_code)


async def unsubscribe_row(db: Database, row_id: str) -> dict | None:
    """The List-Unsubscribe mailto: unsubscribe the recipient of one ledger row from its group."""
    async with db.read() as conn:
        row = await store.message_row(conn, row_id)
        context = await feedback.message_context(conn, row) if row else None
    if row is None or context is None:
        return None
    target = UnsubscribeTarget(row["project_id"], key_of(row["email"]), context["groupCode"], row["id"])
    return await unsubscribe(db, target)
