"""Unsubscribes (RFC 8058 one-click, the confirm page, the List-Unsubscribe mailto) and the hosted
preference page: what a recipient can do with the signed token of a message they received.

- unsubscribe: suppression reason UNSUBSCRIBE in the message's unsubscribe group (the global group
  when it has none, or when that group is gone or inactive), an `unsubscribed` event on the ledger
  row, webhook email.unsubscribed (global) or email.group_unsubscribed. Doing it twice changes
  nothing the second time.
- preferences: the project's active groups for the address; unsubscribe from one, or resubscribe
  (lifts only an UNSUBSCRIBE entry, never a bounce or complaint; webhook email.group_resubscribed).
Tokens are verified by the caller (web/tracking.py); a token names project, address, group, row.
Changes are logged (unsubscribed, resubscribed) once committed.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sendhouse.domain import ids
from sendhouse.domain import webhooks as hooks
from sendhouse.domain.times import utcnow
from sendhouse.domain.tokens import UnsubscribeTarget
from sendhouse.errors import InvalidInput, NotFound
from sendhouse.observability import event_after_commit
from sendhouse.services import webhooks as webhook_service
from sendhouse.services.suppressions import suppress
from sendhouse.services.tracking import message_context
from sendhouse.store import events as store
from sendhouse.store import suppressions as groups_store
from sendhouse.store.db import Database

ACTIONS = ("unsubscribe", "resubscribe")
log = logging.getLogger("sendhouse.unsubscribe")


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


async def unsubscribe(db: Database, target: UnsubscribeTarget, *, group_code: str | None = None,
                      now: datetime | None = None) -> dict:
    """Unsubscribe the token's address from its group (or `group_code`, from the preference page)."""
    now = now or utcnow()
    async with db.write() as conn:
        group = await _group(conn, target.project_id, group_code or target.group)
        entries = await store.preference_groups(conn, target.project_id, target.email)
        if any(e["id"] == group["id"] and e["reason"] for e in entries):
            return {"email": target.email, "group": _brief(group), "changed": False}
        await suppress(conn, target.project_id, target.email, reason="UNSUBSCRIBE", group_code=group["group_code"],
                       source_message_id=target.message_id)
        await _record(conn, target, group, "unsubscribed", now)
    return {"email": target.email, "group": _brief(group), "changed": True}


async def resubscribe(db: Database, target: UnsubscribeTarget, group_code: str, *, now: datetime | None = None) -> dict:
    """Lift the address's UNSUBSCRIBE entry in one group (from the preference page)."""
    now = now or utcnow()
    async with db.write() as conn:
        group = await groups_store.get_group(conn, target.project_id, group_code)
        if group is None or not group["is_active"]:
            raise NotFound("Suppression group not found", code="GROUP_NOT_FOUND")
        changed = await store.delete_unsubscribe(conn, group["id"], target.email)
        if changed:
            await _record(conn, target, group, "resubscribed", now)
    return {"email": target.email, "group": _brief(group), "changed": changed}


async def _record(conn, target: UnsubscribeTarget, group: dict, kind: str, now: datetime) -> None:
    """The event on the ledger row (when it still exists), the subscription webhook and the log event."""
    event_after_commit(log, kind, project_id=target.project_id, message_id=target.message_id,
                       group_id=group["group_code"], is_global=bool(group["is_global"]))
    row = await store.message_row(conn, target.message_id, target.project_id)
    if row is not None and row["email"].lower() == target.email.lower():
        await store.insert_events(conn, [{
            "id": ids.new_id(), "project_id": row["project_id"], "message_id": row["id"],
            "campaign_id": row["campaign_id"], "email": row["email"], "type": kind, "url": None,
            "is_automated": False, "detail": {"groupId": group["group_code"], "isGlobal": bool(group["is_global"])},
            "created_at": now}])
    event = _webhook_event(kind, group)
    context = await message_context(conn, row) if row else {}
    data = hooks.subscription_data(event, email_id=context.get("emailId"), unsubscribe_group_id=group["group_code"],
                                   campaign_id=row["campaign_id"] if row else None,
                                   template_id=context.get("templateId"), batch_id=row["batch_id"] if row else None,
                                   workflow_automation_id=context.get("workflowAutomationId"))
    await webhook_service.emit(conn, target.project_id, event, data, now=now)


def _webhook_event(kind: str, group: dict) -> str:
    if kind == "resubscribed":
        return "email.group_resubscribed"
    return "email.unsubscribed" if group["is_global"] else "email.group_unsubscribed"


async def preferences(db: Database, target: UnsubscribeTarget) -> dict:
    """{email, groups: [{groupId, name, description, isGlobal, subscribed, canResubscribe}]}."""
    async with db.read() as conn:
        found = await store.preference_groups(conn, target.project_id, target.email)
    return {"email": target.email, "groups": [_preference(g) for g in found]}


def _preference(group: dict) -> dict:
    reason = group["reason"]
    return {"groupId": group["group_code"], "name": group["name"], "description": group["description"],
            "isGlobal": bool(group["is_global"]), "subscribed": reason is None, "reason": reason,
            "canResubscribe": reason == "UNSUBSCRIBE"}


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
        context = await message_context(conn, row) if row else None
    if row is None:
        return None
    target = UnsubscribeTarget(row["project_id"], row["email"].lower(), context["groupCode"], row["id"])
    return await unsubscribe(db, target)
