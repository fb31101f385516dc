"""Automations (reference §2): create, list, get, update, delete, pause and resume.

States: draft → active (`active: true` on create or PATCH, after the activation checks) ⇄ paused;
DELETE archives (soft delete: hidden from the API, every run still in flight exits). Decisions
where the reference is silent, as Customer.io and Loops users expect:
- PATCH works on draft and paused automations only (CANNOT_EDIT_AUTOMATION), so an active flow is
  paused before it is edited. New `steps` replace the old ones; runs standing on a step that is
  gone exit (reason step_removed); the others continue from where they are on resume.
- Pausing holds every run where it is (runs of a paused automation are never claimed) and lets
  no new contact enter; resuming continues them; mail already queued in the ledger still goes.
- A contact exits when it is deleted, when it unsubscribes (globally or from the automation's
  unsubscribe group), and, with exitCriteria entry_criteria_no_longer_met, when it no longer
  matches the entry filter or list before a step that checks exit criteria.
- Activation (create, PATCH, resume) needs at least one email step, existing templates, a sender
  for every email (senderEmail, or the template's sender), and existing lists, events and
  unsubscribe group; otherwise CANNOT_ACTIVATE_AUTOMATION names what is missing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from sendhouse.domain import automations as rules
from sendhouse.domain import ids
from sendhouse.domain.pagination import MAX_PAGE, Page
from sendhouse.domain.times import iso, utcnow
from sendhouse.errors import InvalidInput, InvalidOperation, NotFound
from sendhouse.store import automation_runs as run_store
from sendhouse.store import automations as store
from sendhouse.store import contacts as contact_store
from sendhouse.store import custom_events as event_store
from sendhouse.store import projects as project_store
from sendhouse.store.db import Database
from sendhouse.store.mails import group_exists
from sendhouse.store.templates import get_template

EDITABLE = ("draft", "paused")
MAX_LIMIT = 100


def _not_found(code: str = "WORKFLOW_NOT_FOUND") -> NotFound:
    return NotFound("Automation not found", code=code)


def present(row: dict, counts: dict[str, int] | None = None, steps: dict | None = None) -> dict:
    """AutoSend's automation object, with analytics from the run counts (and per-step figures)."""
    counts = counts or {}
    analytics: dict[str, Any] = {
        "totalEntered": sum(counts.values()),
        "totalCompleted": counts.get("completed", 0),
        "totalExited": counts.get("exited", 0),
        "totalActive": counts.get("active", 0),
    }
    if steps is not None:
        analytics["steps"] = steps
    return {
        "id": row["id"],
        "projectId": row["project_id"],
        "name": row["name"],
        "description": row["description"],
        "status": row["status"],
        "entryCriteria": row["entry_criteria"],
        "exitCriteria": row["exit_criteria"],
        "steps": row["steps"],
        "tags": row["tags"] or [],
        "unsubscribeGroupId": row["unsubscribe_group_id"],
        "trackingOpen": bool(row["tracking_open"]),
        "trackingClick": bool(row["tracking_click"]),
        "activeAt": iso(row["active_at"]),
        "createdAt": iso(row["created_at"]),
        "updatedAt": iso(row["updated_at"]),
        "settings": {
            "allowReentry": row["trigger_type"] == "event_trigger",
            "timezone": "UTC",
            "priority": 0,
        },
        "analytics": analytics,
    }


def _step_figures(found: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
    """Per step: entered, active (waiting there), exited and completed (ended there), and for email
    steps queued/sent/delivered/bounced/suppressed/failed/opened/clicked."""
    figures = {}
    for step_id, c in found.items():
        sent = c.get("sent", 0) + c.get("bounced", 0)
        figures[step_id] = {
            "entered": c.get("entered", 0),
            "active": c.get("runs_active", 0),
            "exited": c.get("runs_exited", 0),
            "completed": c.get("runs_completed", 0),
            "queued": c.get("queued", 0) + c.get("sending", 0) + c.get("deferred", 0),
            "sent": sent,
            "delivered": c.get("sent", 0),
            "bounced": c.get("bounced", 0),
            "suppressed": c.get("suppressed", 0),
            "failed": c.get("failed", 0),
            "opened": c.get("opened", 0),
            "clicked": c.get("clicked", 0),
        }
    return figures


def _fields(body: dict[str, Any], *, partial: bool) -> dict[str, Any]:
    """Column values of the fields given (all of them on create)."""
    values: dict[str, Any] = {}
    if not partial or "name" in body:
        values["name"] = rules.check_name(body.get("name"))
    if not partial or "description" in body:
        values["description"] = rules.check_text(body.get("description"), "description", 1000)
    if not partial or "entryCriteria" in body:
        values["entry_criteria"] = rules.check_entry(body.get("entryCriteria"))
        values["trigger_type"] = values["entry_criteria"]["type"]
    if not partial or "exitCriteria" in body:
        values["exit_criteria"] = rules.check_exit(body.get("exitCriteria"))
    if not partial or "steps" in body:
        values["steps"] = rules.check_steps(body.get("steps"))
    if not partial or "tags" in body:
        values["tags"] = rules.check_tags(body.get("tags"))
    if not partial or "unsubscribeGroupId" in body:
        values["unsubscribe_group_id"] = rules.check_text(
            body.get("unsubscribeGroupId"), "unsubscribeGroupId", 24
        )
    for key, column in (("trackingOpen", "tracking_open"), ("trackingClick", "tracking_click")):
        if body.get(key) is not None or not partial:
            values[column] = _flag(body.get(key, True), key)
    return values


def _flag(value: Any, field: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidInput.field(field, "must be true or false")
    return value


def _active_flag(body: dict) -> bool | None:
    value = body.get("active")
    return None if value is None else _flag(value, "active")


async def create_automation(db: Database, project_id: str, body: dict[str, Any]) -> dict:
    """A draft, or an active automation when `active: true` and the activation checks pass."""
    values, activate = _fields(body, partial=False), _active_flag(body)
    now = utcnow()
    row = {
        **values,
        "id": ids.new_id(),
        "project_id": project_id,
        "status": "draft",
        "active_at": None,
        "created_at": now,
        "updated_at": now,
    }
    async with db.write() as conn:
        if activate:
            await check_activation(conn, project_id, row)
            row.update(status="active", active_at=now)
        await store.insert(conn, row)
        project = await project_store.get_project(conn, project_id)
    return {**present(row), "organizationId": project["organization_id"] if project else None}


async def list_automations(
    db: Database, project_id: str, *, status: str | None, tags: str | None, page: int, limit: int
) -> dict:
    if status is not None and status not in rules.STATUSES:
        raise InvalidInput.field("status", f"must be one of {', '.join(rules.STATUSES)}")
    if not 1 <= page <= MAX_PAGE or not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput.field(
            "limit" if 1 <= page <= MAX_PAGE else "page",
            f"page between 1 and {MAX_PAGE:,} and limit between 1 and {MAX_LIMIT}",
        )
    paging = Page(page, limit)
    wanted = {t.strip() for t in (tags or "").split(",") if t.strip()}
    async with db.read() as conn:
        if wanted:
            every = [r for r in await store.all_of(conn, project_id, status) if wanted & set(r["tags"] or [])]
            rows, total = every[paging.offset : paging.offset + limit], len(every)
        else:
            rows, total = await store.listing(conn, project_id, status, paging.offset, limit)
        counts = await store.run_counts(conn, [r["id"] for r in rows])
        mail = {r["id"]: _step_figures(await store.step_counts(conn, r["id"])) for r in rows}
    items = [_with_mail(present(r, counts[r["id"]]), mail[r["id"]]) for r in rows]
    return {"workflowAutomations": items, "pagination": paging.describe(total)}


def _with_mail(item: dict, steps: dict[str, dict[str, int]]) -> dict:
    for key in ("sent", "delivered", "opened", "clicked", "bounced"):
        item["analytics"][key] = sum(s[key] for s in steps.values())
    return item


async def get_automation(db: Database, project_id: str, automation_id: str) -> dict:
    async with db.read() as conn:
        row = await store.get(conn, project_id, automation_id)
        if row is None:
            raise _not_found()
        counts = (await store.run_counts(conn, [row["id"]]))[row["id"]]
        steps = _step_figures(await store.step_counts(conn, row["id"]))
        row["steps"] = await _with_templates(conn, project_id, row["steps"] or [])
    return _with_mail(present(row, counts, steps), steps)


async def _with_templates(conn: AsyncConnection, project_id: str, steps: list[dict]) -> list[dict]:
    """Email steps that name a template get its metadata: templateName, templateType, and the
    template's subject when the step has none of its own."""
    enriched = []
    for step in steps:
        template_id = (step.get("email") or {}).get("templateId")
        template = await get_template(conn, project_id, template_id) if template_id else None
        if template is not None:
            email = {
                **step["email"],
                "templateName": template["name"],
                "templateType": template["template_type"],
            }
            email.setdefault("subject", template["subject"])
            step = {**step, "email": email}
        enriched.append(step)
    return enriched


async def update_automation(db: Database, project_id: str, automation_id: str, body: dict[str, Any]) -> dict:
    """Edit a draft or paused automation; `active: true` activates it, `active: false` makes it a draft."""
    values, activate = _fields(body, partial=True), _active_flag(body)
    now = utcnow()
    async with db.write() as conn:
        row = await store.get(conn, project_id, automation_id)
        if row is None:
            raise _not_found()
        if row["status"] not in EDITABLE:
            raise InvalidOperation(
                "Only draft or paused workflows can be edited", code="CANNOT_EDIT_AUTOMATION"
            )
        values["updated_at"] = now
        if activate:
            await check_activation(conn, project_id, {**row, **values})
            values.update(status="active", active_at=now)
        elif activate is False:
            values["status"] = "draft"
        updated = await store.transition(conn, project_id, automation_id, (row["status"],), values)
        if updated is None:
            raise InvalidOperation(
                "Only draft or paused workflows can be edited", code="CANNOT_EDIT_AUTOMATION"
            )
        if "steps" in values:
            await run_store.exit_on_removed_steps(
                conn, automation_id, [s["stepId"] for s in values["steps"]], now
            )
        counts = (await store.run_counts(conn, [automation_id]))[automation_id]
    return present(updated, counts)


async def pause_automation(db: Database, project_id: str, automation_id: str) -> dict:
    now = utcnow()
    async with db.write() as conn:
        row = await store.transition(
            conn, project_id, automation_id, ("active",), {"status": "paused", "updated_at": now}
        )
        if row is None:
            await _existing(conn, project_id, automation_id)
            raise InvalidOperation(
                "Only active workflows can be paused", code="CANNOT_PAUSE_INACTIVE_AUTOMATION"
            )
    return {
        "id": row["id"],
        "name": row["name"],
        "status": row["status"],
        "updatedAt": iso(row["updated_at"]),
    }


async def resume_automation(db: Database, project_id: str, automation_id: str) -> dict:
    now = utcnow()
    async with db.write() as conn:
        found = await _existing(conn, project_id, automation_id)
        if found["status"] != "paused":
            raise InvalidOperation("Only paused workflows can be resumed", code="CANNOT_ACTIVATE_AUTOMATION")
        await check_activation(conn, project_id, found)
        row = await store.transition(
            conn,
            project_id,
            automation_id,
            ("paused",),
            {"status": "active", "active_at": now, "updated_at": now},
        )
        if row is None:
            raise InvalidOperation("Only paused workflows can be resumed", code="CANNOT_ACTIVATE_AUTOMATION")
    return {
        "id": row["id"],
        "name": row["name"],
        "status": row["status"],
        "activeAt": iso(row["active_at"]),
        "updatedAt": iso(row["updated_at"]),
    }


async def delete_automation(db: Database, project_id: str, automation_id: str) -> None:
    """Archive (soft delete); every run still in flight exits."""
    async with db.write() as conn:
        await archive(conn, project_id, automation_id, utcnow())


async def archive(conn: AsyncConnection, project_id: str, automation_id: str, now: datetime) -> None:
    """Archive inside the caller's transaction: every active run exits (automation_deleted) and
    loses its lease, so a runner holding some of them rolls its pass back and sends nothing."""
    row = await store.transition(
        conn,
        project_id,
        automation_id,
        rules.STATUSES,
        {"status": "archived", "deleted_at": now, "updated_at": now},
    )
    if row is None:
        raise NotFound("Automation not found", code="AUTOMATION_NOT_FOUND")
    await run_store.exit_all(conn, automation_id, "automation_deleted", now)


async def _existing(conn: AsyncConnection, project_id: str, automation_id: str) -> dict:
    row = await store.get(conn, project_id, automation_id)
    if row is None:
        raise _not_found()
    return row


async def check_activation(conn: AsyncConnection, project_id: str, row: dict) -> None:
    """CANNOT_ACTIVATE_AUTOMATION naming the first thing activation lacks."""
    problem = await _activation_problem(conn, project_id, row)
    if problem:
        raise InvalidOperation(
            f"Cannot activate the automation: {problem}", code="CANNOT_ACTIVATE_AUTOMATION"
        )


async def _activation_problem(conn: AsyncConnection, project_id: str, row: dict) -> str | None:
    steps, entry = row["steps"] or [], row["entry_criteria"]
    if not any(s["type"] == "email" for s in steps):
        return "it needs at least one email step"
    if entry.get("contactListId") and not await contact_store.list_types(
        conn, project_id, [entry["contactListId"]]
    ):
        return f"contact list {entry['contactListId']} not found"
    if entry["type"] == "contact_added_to_list" and not entry.get("contactListId"):
        return "contact_added_to_list needs a contactListId"
    if (
        entry["type"] == "event_trigger"
        and await event_store.get_definition(conn, project_id, entry["eventName"]) is None
    ):
        return f"event {entry['eventName']} is not defined"
    if row["unsubscribe_group_id"] and not await group_exists(conn, project_id, row["unsubscribe_group_id"]):
        return f"unsubscribe group {row['unsubscribe_group_id']} not found"
    for step in (s for s in steps if s["type"] == "email"):
        problem = await _email_problem(conn, project_id, step)
        if problem:
            return f"step {step['stepId']}: {problem}"
    return None


async def _email_problem(conn: AsyncConnection, project_id: str, step: dict) -> str | None:
    email = step["email"]
    template = await get_template(conn, project_id, email["templateId"]) if email.get("templateId") else None
    if email.get("templateId") and template is None:
        return f"template {email['templateId']} not found"
    if not email.get("senderEmail") and not (template and template.get("sender_id")):
        return "senderEmail is required (or a template with a sender)"
    return None


async def activation_preview(db: Database, project_id: str, automation_id: str) -> dict:
    """What activating would do, changing nothing: trigger, steps, emails and what still blocks it."""
    async with db.read() as conn:
        row = await _existing(conn, project_id, automation_id)
        problem = await _activation_problem(conn, project_id, row)
        if row["status"] not in EDITABLE:
            problem = f"the automation is {row['status']}; only draft or paused automations can be activated"
    steps = row["steps"] or []
    return {
        "id": row["id"],
        "name": row["name"],
        "status": row["status"],
        "entryCriteria": row["entry_criteria"],
        "steps": len(steps),
        "emailSteps": sum(1 for s in steps if s["type"] == "email"),
        "unsubscribeGroupId": row["unsubscribe_group_id"],
        "canActivate": problem is None,
        "problem": problem,
    }


async def activate(db: Database, project_id: str, automation_id: str) -> dict:
    """Activate a draft (PATCH active:true) or resume a paused automation."""
    async with db.read() as conn:
        row = await _existing(conn, project_id, automation_id)
    if row["status"] == "paused":
        await resume_automation(db, project_id, automation_id)
        return await get_automation(db, project_id, automation_id)
    return await update_automation(db, project_id, automation_id, {"active": True})


async def check_automation_templates(db: Database, project_id: str, steps: list[dict] | None) -> None:
    """MCP's rule: every email step uses a template of type automation (AUTOMATION_TEMPLATE_REQUIRED)."""
    async with db.read() as conn:
        for step in (s for s in steps or [] if isinstance(s, dict) and s.get("type") == "email"):
            template_id = (step.get("email") or {}).get("templateId")
            template = (
                await get_template(conn, project_id, template_id) if isinstance(template_id, str) else None
            )
            if template is None or template["template_type"] != "automation":
                raise InvalidOperation(
                    "Email steps created through MCP need a templateId of a template with "
                    "templateType automation",
                    code="AUTOMATION_TEMPLATE_REQUIRED",
                )
