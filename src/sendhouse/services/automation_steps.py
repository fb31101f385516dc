"""Carrying out automation runs: claim due runs with a lease, then advance each in a savepoint.

One pass (`run_due`): claim up to `limit` due runs (committed at once), then in one write
transaction carry out each run's due steps in a savepoint of its own:
- a wait sets the run's due time to now + delay (no task sleeps anywhere);
- an email becomes a ledger row in `messages` (transactional kind, with the contact, the
  automation's unsubscribe group and tracking flags, and workflowAutomationId / automationStepId
  in its payload), so suppressions, the send rate, bounces, webhooks and analytics apply as to
  every other mail;
- a branch goes to the first branch whose filter matches (contact fields and the entering
  event's `event.properties.*`); when none matches, to the branch step's own nextStepId, else
  the run completes.
Steps that are due at once are chained in the same savepoint (at most MAX_CHAIN). Each carried
out step is logged once per run (unique run + step), and the run moves on with an UPDATE
conditional on its lease and its step: a runner that lost its lease writes nothing, so a run
advances exactly once. A step that fails gives the lease back and is retried RETRY_AFTER later.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from sendhouse.domain import ids
from sendhouse.domain.automations import delay_of, facts, matches
from sendhouse.services.compose import contact_variables
from sendhouse.services.transactional import Email, queue_for_contact
from sendhouse.store import automation_runs as runs
from sendhouse.store import automations as automation_store
from sendhouse.store.db import Database
from sendhouse.store.mails import suppressed_among
from sendhouse.store.senders import get_sender
from sendhouse.store.templates import get_template

log = logging.getLogger("sendhouse.automations")
LEASE_SECONDS = 120.0
MAX_CHAIN = 20
RETRY_AFTER = timedelta(minutes=1)
PRIORITY = 50  # after transactional mail (10), before campaign mail (100)


class LeaseLost(Exception):
    """Another runner holds this run now; nothing of this pass is kept."""


@dataclass
class _Pass:
    """What one pass shares: its transaction, time, and the automations and contacts it needs."""

    conn: AsyncConnection
    runner: str
    now: datetime
    flows: dict[str, dict] = field(default_factory=dict)
    contacts: dict[str, dict] = field(default_factory=dict)
    suppressed: set[tuple[str, str]] = field(default_factory=set)  # (automation id, contact id)
    templates: dict[tuple[str, str], dict | None] = field(default_factory=dict)
    steps_done: int = 0


async def run_due(db: Database, *, runner: str, now: datetime, limit: int) -> int:
    """Claim up to `limit` due runs and carry out their due steps; how many steps were carried out."""
    async with db.read(snapshot=False) as conn:
        if not await runs.any_due(conn, now):
            return 0
    async with db.write() as conn:
        claimed = await runs.claim(conn, runner=runner, limit=limit, now=now, lease_seconds=LEASE_SECONDS)
    if not claimed:
        return 0
    async with db.write() as conn:
        work = await _prepare(conn, runner, now, claimed)
        failed = [run["id"] for run in claimed if not await _one(work, run)]
        await runs.release(conn, failed, runner, now + RETRY_AFTER)
    return work.steps_done


async def _prepare(conn: AsyncConnection, runner: str, now: datetime, claimed: list[dict]) -> _Pass:
    work = _Pass(conn, runner, now)
    for automation_id in {r["automation_id"] for r in claimed}:
        work.flows[automation_id] = await automation_store.get_by_id(conn, automation_id)
    contact_ids = list({r["contact_id"] for r in claimed})
    work.contacts = {c["id"]: c for c in await runs.contacts_by_ids(conn, contact_ids)}
    for automation_id, flow in work.flows.items():
        mine = [work.contacts[r["contact_id"]] for r in claimed
                if r["automation_id"] == automation_id and r["contact_id"] in work.contacts]
        blocked = await suppressed_among(conn, flow["project_id"], [c["email"] for c in mine],
                                         flow["unsubscribe_group_id"])
        work.suppressed |= {(automation_id, c["id"]) for c in mine if c["email"].lower() in blocked}
    return work


async def _one(work: _Pass, run: dict) -> bool:
    """Carry out one run in a savepoint; False when it failed (its lease is then given back)."""
    done = work.steps_done
    try:
        async with work.conn.begin_nested():
            await _carry_out(work, run)
        return True
    except LeaseLost:
        work.steps_done = done
        return True
    except Exception:  # one broken run must not stop the others
        work.steps_done = done
        log.exception("automation step failed", extra={"action": "automation_step_failed", "run_id": run["id"]})
        return False


async def _carry_out(work: _Pass, run: dict) -> None:
    flow, contact = work.flows[run["automation_id"]], work.contacts.get(run["contact_id"])
    by_id = {s["stepId"]: s for s in flow["steps"] or []}
    step_id, due = run["step_id"], work.now
    for _ in range(MAX_CHAIN):
        reason = _exit_reason(work, flow, run, contact, by_id.get(step_id))
        if reason:
            return await _finish(work, run, "exited", reason)
        next_id, due, message_id = await _execute(work, flow, run, contact, by_id[step_id])
        await runs.log_step(work.conn, {"id": ids.new_id(), "automation_id": flow["id"], "run_id": run["id"],
                                        "step_id": step_id, "message_id": message_id, "created_at": work.now})
        work.steps_done += 1
        if next_id is None:
            return await _finish(work, run, "completed", None)
        step_id = next_id
        if due > work.now:
            break
    await _move(work, run, {"step_id": step_id, "due_at": due, "updated_at": work.now})


def _exit_reason(work: _Pass, flow: dict, run: dict, contact: dict | None, step: dict | None) -> str | None:
    if contact is None:
        return "contact_deleted"
    if step is None:
        return "step_removed"
    if (flow["id"], contact["id"]) in work.suppressed:
        return "unsubscribed"
    recheck = (flow["exit_criteria"] or {}).get("type") == "entry_criteria_no_longer_met" \
        and step.get("checkExitCriteria", True)
    if recheck and not matches(flow["entry_criteria"].get("filterCriteria"), facts(contact, run["event"])):
        return "entry_criteria_no_longer_met"
    return None


async def _finish(work: _Pass, run: dict, status: str, reason: str | None) -> None:
    await _move(work, run, {"status": status, "exit_reason": reason, "finished_at": work.now,
                            "updated_at": work.now, "step_id": run["step_id"]})


async def _move(work: _Pass, run: dict, values: dict) -> None:
    if not await runs.advance(work.conn, run, work.runner, values):
        raise LeaseLost()


async def _execute(work: _Pass, flow: dict, run: dict, contact: dict, step: dict) -> tuple[str | None, datetime, str | None]:
    """(next step id, when it is due, ledger row id of an email step)."""
    if step["type"] == "wait":
        return step.get("nextStepId"), work.now + delay_of(step), None
    if step["type"] == "email":
        return step.get("nextStepId"), work.now, await _queue_email(work, flow, run, contact, step)
    known = facts(contact, run["event"])
    chosen = next((b for b in step["branches"] if matches(b["filterCriteria"], known)), None)
    return (chosen.get("nextStepId") if chosen else step.get("nextStepId")), work.now, None


async def _queue_email(work: _Pass, flow: dict, run: dict, contact: dict, step: dict) -> str:
    spec = step["email"]
    template = await _template(work, flow["project_id"], spec.get("templateId"))
    sender = await _sender(work, flow["project_id"], spec, template)
    reply = {"email": spec["senderReplyToEmail"], "name": spec.get("senderReplyToName")} \
        if spec.get("senderReplyToEmail") else None
    content = {
        "from": sender, "replyTo": reply, "cc": [], "subject": spec.get("subject") or (template or {}).get("subject"),
        "html": spec.get("htmlTemplate") or (template or {}).get("html"),
        "text": None if spec.get("htmlTemplate") else (template or {}).get("plain_text"),
        "templateId": spec.get("templateId"), "headers": {}, "attachments": [],
        "trackingOpen": bool(flow["tracking_open"]), "trackingClick": bool(flow["tracking_click"]),
        "unsubscribeGroupId": flow["unsubscribe_group_id"], "bypassSuppressions": False, "batchId": None,
    }
    name = " ".join(p for p in (contact["first_name"], contact["last_name"]) if p) or None
    data = {**contact_variables(contact, {"email": contact["email"]}), "event": run["event"] or {}}
    email = Email(content, [{"email": contact["email"], "name": name}], [], [], data)
    queued = await queue_for_contact(work.conn, flow["project_id"], email, contact_id=contact["id"], priority=PRIORITY,
                                     payload_extra={"workflowAutomationId": flow["id"], "automationStepId": step["stepId"]})
    return queued.email_id


async def _template(work: _Pass, project_id: str, template_id: str | None) -> dict | None:
    if not template_id:
        return None
    if (project_id, template_id) not in work.templates:
        work.templates[(project_id, template_id)] = await get_template(work.conn, project_id, template_id)
    found = work.templates[(project_id, template_id)]
    if found is None:
        raise LookupError(f"template {template_id} not found")
    return found


async def _sender(work: _Pass, project_id: str, spec: dict, template: dict | None) -> dict:
    if spec.get("senderEmail"):
        return {"email": spec["senderEmail"], "name": spec.get("senderName")}
    sender = await get_sender(work.conn, project_id, template["sender_id"]) if template and template.get("sender_id") else None
    if sender is None:
        raise LookupError("the email step has no sender")
    return {"email": sender["email"], "name": spec.get("senderName") or sender.get("name")}
