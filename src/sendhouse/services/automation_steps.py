"""Carrying out automation runs: claim due runs with a lease, work out every step in memory,
write the whole batch at once.

One pass (`run_due`): on SQLite a read finds whether anything is due first (an idle runner takes
no write lock; on PostgreSQL the claim itself locks nothing when nothing is due); then up to `limit` due runs are claimed (committed at once). In one write transaction, for each
claimed run the due steps are worked out from what was read for the whole batch:
- a wait sets the run's due time to now + delay (no task sleeps anywhere);
- an email becomes a ledger row in `messages` (transactional kind, priority 50, with the contact,
  the automation's unsubscribe group and tracking flags, and workflowAutomationId /
  automationStepId in its payload), so the send rate, bounces, webhooks and analytics apply as
  to every other mail; one content is stored per step and pass (marked `marketing`: it is built
  as campaign mail, with List-Unsubscribe and an unsubscribe footer), merge data per contact;
- a branch goes to the first branch whose filter matches (contact fields and the entering
  event's `event.properties.*`); when none matches, to the branch step's own nextStepId, else
  the run completes. A step inside a branch (parentBranchStepId / parentBranchId) of a branch
  whose appliesTo is all_branch_steps is guarded: when the branch's filter no longer matches
  before it, the run goes to the branch's mergeStepId instead (or completes without one).
Steps due at once are chained (at most MAX_CHAIN per pass). A contact that is deleted or
suppressed (globally or in the automation's group) exits before its next step. Then the ledger
rows, the step log (unique per run and step) and the run updates are written in bulk
(store/bulk.py: executemany on SQLite, COPY and one UPDATE … FROM unnest on PostgreSQL) and the
leases given back. A run that cannot be worked out (its template was deleted…) is released and
retried RETRY_AFTER later; so is every run of a pass whose bulk write failed (nothing of it kept).
Exactly once: the run updates are conditional on this runner's lease and on the run being
active, and the pass is written only when every one of them applied; when a lease was lost (it
ran out and another runner took the run over, or the automation was archived meanwhile) the
whole pass rolls back, its other runs are given back as they were, and the next pass takes them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from sendhouse.domain import ids
from sendhouse.domain.automations import delay_of, facts, matches
from sendhouse.domain.emails import key_of
from sendhouse.domain.times import utcnow
from sendhouse.services.compose import contact_variables
from sendhouse.services.transactional import Email, contact_rows
from sendhouse.store import automation_runs as runs
from sendhouse.store import automations as automation_store
from sendhouse.store import ledger
from sendhouse.store.db import Database
from sendhouse.store.mails import suppressed_among
from sendhouse.store.senders import get_sender
from sendhouse.store.templates import get_template

log = logging.getLogger("sendhouse.automations")
LEASE_SECONDS = 120.0
MAX_CHAIN = 20
RETRY_AFTER = timedelta(minutes=1)
PRIORITY = 50  # after transactional mail (10), before campaign mail (100)


@dataclass
class _Pass:
    """One batch: what was read for it and what it will write."""

    conn: AsyncConnection
    runner: str
    now: datetime
    flows: dict[str, dict | None] = field(default_factory=dict)
    steps: dict[str, dict[str, dict]] = field(default_factory=dict)  # automation id -> step id -> step
    contacts: dict[str, dict] = field(default_factory=dict)
    suppressed: set[tuple[str, str]] = field(default_factory=set)  # (automation id, contact id)
    contents: dict[tuple[str, str], dict] = field(default_factory=dict)  # (automation id, step id) -> content
    emails: dict[str, list[tuple[str, Email, str, dict]]] = field(default_factory=dict)  # project -> emails
    log_rows: list[dict] = field(default_factory=list)
    updates: list[dict] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


class _LeaseLost(Exception):
    """Some run of the pass was no longer leased to this runner when its advance was written."""


async def run_due(db: Database, *, runner: str, now: datetime, limit: int) -> int:
    """Claim up to `limit` due runs and carry out their due steps; how many steps were carried out."""
    if db.is_sqlite:  # SQLite's write lock is for the whole file: look before taking it
        async with db.read(snapshot=False) as conn:
            if not await runs.any_due(conn, now):
                return 0
    async with db.write() as conn:
        claimed = await runs.claim(conn, runner=runner, limit=limit, now=now, lease_seconds=LEASE_SECONDS)
    if not claimed:
        return 0
    try:
        async with db.write() as conn:
            work = await _prepare(conn, runner, now, claimed)
            for run in claimed:
                await _plan(work, run)
            await _write(work)
    except _LeaseLost:
        async with db.write() as conn:  # nothing of the pass was written: the rest is due as it was
            await runs.give_back(conn, [r["id"] for r in claimed], runner)
        log.info("automation pass rolled back: a lease was lost", extra={"action": "automation_lease_lost"})
        return 0
    except Exception:
        async with db.write() as conn:  # nothing of the pass was written: retry its runs later
            await runs.release(conn, [r["id"] for r in claimed], runner, now + RETRY_AFTER)
        raise
    return len(work.log_rows)


async def _prepare(conn: AsyncConnection, runner: str, now: datetime, claimed: list[dict]) -> _Pass:
    """Read what the batch needs: its automations, contacts and which contacts are suppressed."""
    work = _Pass(conn, runner, now)
    for automation_id in {r["automation_id"] for r in claimed}:
        work.flows[automation_id] = flow = await automation_store.get_by_id(conn, automation_id)
        work.steps[automation_id] = {s["stepId"]: s for s in flow["steps"] or []} if flow else {}
    work.contacts = {
        c["id"]: c for c in await runs.contacts_by_ids(conn, list({r["contact_id"] for r in claimed}))
    }
    for automation_id, flow in work.flows.items():
        if flow is None:  # gone: its runs fail one by one in _steps
            continue
        mine = {r["contact_id"] for r in claimed if r["automation_id"] == automation_id} & set(work.contacts)
        blocked = await suppressed_among(
            conn, flow["project_id"], [work.contacts[c]["email"] for c in mine], flow["unsubscribe_group_id"]
        )
        work.suppressed |= {(automation_id, c) for c in mine if key_of(work.contacts[c]["email"]) in blocked}
    return work


async def _plan(work: _Pass, run: dict) -> None:
    """Work out one run's due steps into the pass; a run that fails is released for a retry."""
    marks = (len(work.log_rows), {p: len(e) for p, e in work.emails.items()})
    try:
        await _steps(work, run)
    except Exception:  # one broken run must not stop the others
        del work.log_rows[marks[0] :]
        for project_id, emails in work.emails.items():
            del emails[marks[1].get(project_id, 0) :]
        work.failed.append(run["id"])
        log.exception(
            "automation step failed", extra={"action": "automation_step_failed", "run_id": run["id"]}
        )


async def _steps(work: _Pass, run: dict) -> None:
    flow, contact = work.flows[run["automation_id"]], work.contacts.get(run["contact_id"])
    if flow is None:
        raise LookupError(f"automation {run['automation_id']} of run {run['id']} is gone")
    by_id = work.steps[run["automation_id"]]
    step_id, due = run["step_id"], work.now
    for _ in range(MAX_CHAIN):
        reason = _exit_reason(work, flow, run, contact, by_id.get(step_id))
        if reason:
            return _finish(work, run, "exited", reason, step_id)
        assert contact is not None  # _exit_reason ends the run of a deleted contact
        diverted = _guard(by_id, by_id[step_id], contact, run["event"])
        if diverted != step_id:
            if diverted is None:
                return _finish(work, run, "completed", None, step_id)
            step_id = diverted
            continue
        next_id, due, message_id = await _execute(work, flow, run, contact, by_id[step_id])
        work.log_rows.append(
            {
                "id": ids.new_id(),
                "automation_id": flow["id"],
                "run_id": run["id"],
                "step_id": step_id,
                "message_id": message_id,
                "created_at": work.now,
            }
        )
        if next_id is None:
            return _finish(work, run, "completed", None, step_id)
        step_id = next_id
        if due > work.now:
            break
    work.updates.append({**_blank(run), "step_id": step_id, "due_at": due})


def _guard(by_id: dict, step: dict, contact: dict, event: dict | None) -> str | None:
    """The step to carry out: this one, or, for a step inside a branch whose appliesTo is
    all_branch_steps and whose filter no longer matches, the branch's mergeStepId (None: the end)."""
    parent = by_id.get(step.get("parentBranchStepId") or "")
    if parent is None:
        return step["stepId"]
    branch = next(
        (b for b in parent.get("branches") or () if b["branchId"] == step.get("parentBranchId")), None
    )
    if (
        branch
        and branch["appliesTo"] == "all_branch_steps"
        and not matches(branch["filterCriteria"], facts(contact, event))
    ):
        return branch.get("mergeStepId")
    return step["stepId"]


def _blank(run: dict) -> dict:
    return {
        "run_id": run["id"],
        "status": "active",
        "step_id": run["step_id"],
        "due_at": run["due_at"],
        "exit_reason": None,
        "finished_at": None,
    }


def _finish(work: _Pass, run: dict, status: str, reason: str | None, step_id: str | None) -> None:
    """The run ends on step_id (the last step carried out, or the one it exited before)."""
    work.updates.append(
        {**_blank(run), "status": status, "exit_reason": reason, "finished_at": work.now, "step_id": step_id}
    )


def _exit_reason(work: _Pass, flow: dict, run: dict, contact: dict | None, step: dict | None) -> str | None:
    if contact is None:
        return "contact_deleted"
    if step is None:
        return "step_removed"
    if (flow["id"], contact["id"]) in work.suppressed:
        return "unsubscribed"
    recheck = (flow["exit_criteria"] or {}).get("type") == "entry_criteria_no_longer_met" and step.get(
        "checkExitCriteria", True
    )
    if recheck and not matches(flow["entry_criteria"].get("filterCriteria"), facts(contact, run["event"])):
        return "entry_criteria_no_longer_met"
    return None


async def _execute(
    work: _Pass, flow: dict, run: dict, contact: dict, step: dict
) -> tuple[str | None, datetime, str | None]:
    """(next step id, when it is due, ledger row id of an email step)."""
    if step["type"] == "wait":
        return step.get("nextStepId"), work.now + delay_of(step), None
    if step["type"] == "email":
        return step.get("nextStepId"), work.now, await _email(work, flow, run, contact, step)
    known = facts(contact, run["event"])
    chosen = next((b for b in step["branches"] if matches(b["filterCriteria"], known)), None)
    return (chosen.get("nextStepId") if chosen else step.get("nextStepId")), work.now, None


async def _email(work: _Pass, flow: dict, run: dict, contact: dict, step: dict) -> str:
    """Add the step's email to the pass; the id its ledger row will have."""
    content = await _content(work, flow, step)
    name = " ".join(p for p in (contact["first_name"], contact["last_name"]) if p) or None
    data = {**contact_variables(contact, {"email": contact["email"]}), "event": run["event"] or {}}
    email = Email(content, [{"email": contact["email"], "name": name}], [], [], data)
    row_id, extra = ids.new_id(), {"workflowAutomationId": flow["id"], "automationStepId": step["stepId"]}
    work.emails.setdefault(flow["project_id"], []).append((row_id, email, contact["id"], extra))
    return row_id


async def _content(work: _Pass, flow: dict, step: dict) -> dict:
    """The stored content of an email step (one per step and pass), template and sender resolved."""
    key = (flow["id"], step["stepId"])
    if key not in work.contents:
        spec = step["email"]
        template = (
            await get_template(work.conn, flow["project_id"], spec["templateId"])
            if spec.get("templateId")
            else None
        )
        if spec.get("templateId") and template is None:
            raise LookupError(f"template {spec['templateId']} not found")
        reply = (
            {"email": spec["senderReplyToEmail"], "name": spec.get("senderReplyToName")}
            if spec.get("senderReplyToEmail")
            else None
        )
        work.contents[key] = {
            "from": await _sender(work, flow["project_id"], spec, template),
            "replyTo": reply,
            "cc": [],
            "subject": spec.get("subject") or (template or {}).get("subject"),
            "html": spec.get("htmlTemplate") or (template or {}).get("html"),
            "text": None if spec.get("htmlTemplate") else (template or {}).get("plain_text"),
            "templateId": spec.get("templateId"),
            "headers": {},
            "attachments": [],
            "trackingOpen": bool(flow["tracking_open"]),
            "trackingClick": bool(flow["tracking_click"]),
            "unsubscribeGroupId": flow["unsubscribe_group_id"],
            "bypassSuppressions": False,
            "batchId": None,
            "previewText": spec.get("previewText") or (template or {}).get("preview_text"),
            "marketing": True,
        }
    return work.contents[key]


async def _sender(work: _Pass, project_id: str, spec: dict, template: dict | None) -> dict:
    if spec.get("senderEmail"):
        return {"email": spec["senderEmail"], "name": spec.get("senderName")}
    sender = (
        await get_sender(work.conn, project_id, template["sender_id"])
        if template and template.get("sender_id")
        else None
    )
    if sender is None:
        raise LookupError("the email step has no sender")
    return {"email": sender["email"], "name": spec.get("senderName") or sender.get("name")}


async def _write(work: _Pass) -> None:
    """Ledger rows, step log and run updates of the whole pass, in bulk; failed runs released."""
    queued_at = utcnow()  # the ledger's own clock, whatever time the runner was told it is
    for project_id, emails in work.emails.items():
        await ledger.insert_bulk(
            work.conn, contact_rows(project_id, emails, priority=PRIORITY, now=queued_at)
        )
    await runs.log_steps(work.conn, work.log_rows)
    if await runs.advance_many(work.conn, work.updates, work.runner, work.now) != len(work.updates):
        raise _LeaseLost
    await runs.release(work.conn, work.failed, work.runner, work.now + RETRY_AFTER)
