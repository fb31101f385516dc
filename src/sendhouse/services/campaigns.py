"""Campaign use cases: create, list, read, update, delete, duplicate, pause, resume, abort,
analytics, and the transitions the scheduler drives (start, finish, automatic pause).

Every state change is one conditional UPDATE inside a write transaction; when it matches no row
the campaign is re-read to answer 404 (absent or another project's) or 409 (wrong state).
Bodies arrive under AutoSend's field names; results are AutoSend-shaped dicts. Each transition
logs its event (campaign_created, _scheduled, _started, _paused, _resumed, _aborted, _finished)
once its transaction has committed.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from sendhouse.domain import campaigns as rules
from sendhouse.domain import ids
from sendhouse.domain.filters import CampaignFilter
from sendhouse.domain.pagination import Page
from sendhouse.domain.times import iso, utcnow
from sendhouse.errors import Conflict, InvalidInput, InvalidOperation, NotFound
from sendhouse.services import expansion, idempotency
from sendhouse.services.senders import require_verified
from sendhouse.store import campaigns as store
from sendhouse.store import counters, ledger
from sendhouse.store.db import Database, event_after_commit
from sendhouse.store.lists import describe_lists
from sendhouse.store.templates import get_template

log = logging.getLogger("sendhouse.campaigns")
DEFAULT_SEND_NOW_DELAY = 120
COPIED_COLUMNS = (
    "subject",
    "preview_text",
    "from_sender_id",
    "from_email",
    "from_name",
    "reply_to",
    "template_id",
    "html_template",
    "to_lists",
    "exclude_lists",
    "unsubscribe_group_id",
    "send_to_global_list",
    "send_mode",
    "gradual_strategy",
    "daily_batch_size",
    "timezone",
    "tracking_open",
    "tracking_click",
    "threshold_preset",
    "builder_type",
)


def _log(action: str, campaign_id: str, project_id: str | None = None, **fields) -> None:
    """The structured event of a campaign transition, written once its transaction commits."""
    event_after_commit(log, action, campaign_id=campaign_id, project_id=project_id, **fields)


def not_found() -> NotFound:
    return NotFound(
        "Campaign not found",
        code="CAMPAIGN_NOT_FOUND",
        details="No campaign matching the provided ID was found in this project.",
    )


# --- presentation --------------------------------------------------------------------------


def present_summary(row: dict) -> dict:
    """The short campaign shape of list items and of pause/resume/abort responses."""
    return {
        "id": row["id"],
        "campaignId": row["id"],
        "name": row["name"],
        "subject": row["subject"],
        "previewText": row["preview_text"],
        "status": row["status"],
        "sendMode": row["send_mode"],
        "trackingClick": row["tracking_click"],
        "trackingOpen": row["tracking_open"],
        "pausedAt": iso(row["paused_at"]),
        "resumedAt": iso(row["resumed_at"]),
        "abortedAt": iso(row["aborted_at"]),
        "createdAt": iso(row["created_at"]),
        "updatedAt": iso(row["updated_at"]),
    }


def _gradual(row: dict) -> dict | None:
    if row["send_mode"] != "gradual":
        return None
    return {
        "gradualStrategy": row["gradual_strategy"],
        "dailyBatchSize": row["daily_batch_size"],
        "timezone": row["timezone"],
        "startAt": iso(row["scheduled_at"]),
    }


def _template(template: dict | None, row: dict) -> dict | None:
    if template is None:
        return None
    return {
        "templateId": template["id"],
        "id": template["id"],
        "projectId": template["project_id"],
        "templateName": template["name"],
        "subject": template["subject"],
        "previewText": template["preview_text"],
        "emailTemplate": row["html_template"] or template["html"],
        "templateType": template["template_type"],
        "builderType": template["builder_type"],
        "editorJson": None,
        "parentBodyProperties": None,
        "isFlagged": False,
        "source": "api",
        "createdAt": iso(template["created_at"]),
        "updatedAt": iso(template["updated_at"]),
    }


def _lists(ids_: list[str], described: dict) -> list[dict]:
    return [described[i] for i in ids_ if i in described]


def _timeline(row: dict) -> dict:
    return {
        "scheduledAt": iso(row["scheduled_at"]),
        "sentAt": iso(row["sent_at"]),
        "abortedAt": iso(row["aborted_at"]),
        "pausedAt": iso(row["paused_at"]),
        "pausedReason": row["paused_reason"],
        "resumedAt": iso(row["resumed_at"]),
        "failureReason": row["failure_reason"],
        "agendaJobId": None,
        "createdAt": iso(row["created_at"]),
        "updatedAt": iso(row["updated_at"]),
    }


def _settings(row: dict) -> dict:
    return {
        "fromSenderId": row["from_sender_id"],
        "from": {"email": row["from_email"], "name": row["from_name"]},
        "replyTo": row["reply_to"],
        "unsubscribeGroupId": row["unsubscribe_group_id"],
        "sendNow": row["send_now"],
        "templateId": row["template_id"],
        "htmlTemplate": row["html_template"],
        "gradualSend": _gradual(row),
        "timezone": row["timezone"],
        "thresholdPreset": row["threshold_preset"],
        "source": row["source"],
        "sendToGlobalList": row["send_to_global_list"],
        "createdBy": row["created_by"],
        "defaultCampaign": row["default_campaign"],
        "builderType": row["builder_type"],
    }


async def present_campaign(conn: AsyncConnection, row: dict) -> dict:
    """The full AutoSend campaign object (§2.4), with lists, template and metrics; the parts a row
    read by store.get_to_present or get_with_counters carries are taken from it."""
    wanted = row["to_lists"] + row["exclude_lists"]
    described = row.get("lists")
    if described is None:
        described = await describe_lists(conn, row["project_id"], wanted) if wanted else {}
    if "template" in row:
        template = row["template"]
    else:
        template = (
            await get_template(conn, row["project_id"], row["template_id"]) if row["template_id"] else None
        )
    organization = (
        row["organization_id"]
        if "organization_id" in row
        else await store.organization_of(conn, row["project_id"])
    )
    return _campaign_object(row, described, template, await _counters_of(conn, row), organization)


def _campaign_object(
    row: dict, described: dict, template: dict | None, counts: dict, organization: str | None
) -> dict:
    return {
        **present_summary(row),
        "projectId": row["project_id"],
        "organizationId": organization,
        **_settings(row),
        **_timeline(row),
        "toLists": _lists(row["to_lists"], described),
        "excludeLists": _lists(row["exclude_lists"], described),
        "metrics": _metrics(row, counts),
        "template": _template(template, row),
    }


# --- validation against the project's data -------------------------------------------------


async def _check_lists(conn: AsyncConnection, project_id: str, columns: dict) -> list[dict]:
    found = []
    for field, column in (("toLists", "to_lists"), ("excludeLists", "exclude_lists")):
        wanted = columns.get(column) or []
        described = await describe_lists(conn, project_id, wanted) if wanted else {}
        missing = [i for i in wanted if i not in described]
        if missing:
            found.append(rules.problem(field, f"unknown list or segment: {', '.join(missing)}"))
    return found


async def _check_content(conn: AsyncConnection, project_id: str, columns: dict) -> list[dict]:
    found = []
    if columns.get("template_id") and await get_template(conn, project_id, columns["template_id"]) is None:
        found.append(rules.problem("templateId", "Template not found in this project"))
    group = columns.get("unsubscribe_group_id")
    if group and not await store.group_exists(conn, project_id, group):
        found.append(rules.problem("unsubscribeGroupId", "Unsubscribe group not found in this project"))
    return found


async def _apply_sender(conn: AsyncConnection, project_id: str, columns: dict) -> list[dict]:
    """fromSenderId must be a saved sender of the project; it fills `from` (and replyTo if unset)."""
    if not columns.get("from_sender_id"):
        return []
    sender = await store.get_sender(conn, project_id, columns["from_sender_id"])
    if sender is None:
        return [rules.problem("fromSenderId", "Sender not found in this project")]
    columns.update(from_email=sender["email"], from_name=sender["name"])
    if not columns.get("reply_to") and sender["reply_to"]:
        columns["reply_to"] = sender["reply_to"]
    return []


async def _check_references(
    conn: AsyncConnection, project_id: str, columns: dict, *, verified_domain: bool = False
) -> None:
    """Lists, template, group and sender exist in the project; with `verified_domain`, the `from`
    address must be on a VERIFIED domain of the project."""
    found = await _check_lists(conn, project_id, columns) + await _check_content(conn, project_id, columns)
    rules.raise_problems(found + await _apply_sender(conn, project_id, columns))
    if verified_domain and columns.get("from_email"):
        await require_verified(conn, project_id, columns["from_email"])


def _schedule(campaign: dict, fields: dict, now: datetime, delay: int) -> dict:
    """The status and start time of a campaign asked to be scheduled (after checking it can be)."""
    rules.check_schedulable(campaign)
    start = rules.start_time(
        campaign["scheduled_at"], send_now=bool(fields.get("sendNow")), now=now, delay_seconds=delay
    )
    return {"status": "scheduled", "scheduled_at": start}


# --- create, read, list --------------------------------------------------------------------


def _new_row(project_id: str, fields: dict, *, source: str, created_by: str | None, now: datetime) -> dict:
    rules.check_create(fields)
    columns = rules.to_columns(fields)
    return {
        **rules.DEFAULTS,
        **columns,
        "id": ids.new_id(),
        "project_id": project_id,
        "status": "draft",
        "send_mode": rules.create_mode(fields),
        "source": source,
        "created_by": created_by,
        "created_at": now,
        "updated_at": now,
    }


async def create_campaign(
    db: Database,
    project_id: str,
    fields: dict,
    *,
    source: str = "api",
    created_by: str | None = None,
    send_now_delay: int = DEFAULT_SEND_NOW_DELAY,
    idempotency_key: idempotency.Key | None = None,
    verified_domain: bool = False,
) -> dict:
    """Create a draft, or a scheduled campaign when the body asks for publish/sendNow/scheduledAt;
    an Idempotency-Key's response is stored in the same transaction (`verified_domain`: the sender
    must be on a verified domain, settings.verified_domain_required())."""
    now = utcnow()
    row = _new_row(project_id, fields, source=source, created_by=created_by, now=now)
    rules.check_combination(row)
    async with db.write() as conn:
        await _check_references(conn, project_id, row, verified_domain=verified_domain)
        if rules.wants_schedule(fields):
            row.update(_schedule(row, fields, now, send_now_delay))
        await store.insert(conn, row)
        _log("campaign_created", row["id"], project_id, status=row["status"], source=source)
        if row["status"] == "scheduled":
            _log("campaign_scheduled", row["id"], project_id, scheduled_at=iso(row["scheduled_at"]))
        data = await present_campaign(conn, row)
        await idempotency.record(conn, idempotency_key, data)
        return data


async def _get_row(conn: AsyncConnection, project_id: str, campaign_id: str) -> dict:
    row = await store.get(conn, campaign_id, project_id)
    if row is None:
        raise not_found()
    return row


async def get_campaign(db: Database, project_id: str, campaign_id: str) -> dict:
    """The full campaign object: its row, organization, counters, template and lists in one
    statement, as a quick read (no snapshot needed). Lists whose count scans the contacts (All
    Contacts, segments) are then counted on the ordinary reader, off the event loop."""
    async with db.quick_read() as conn:
        row = await store.get_to_present(conn, campaign_id, project_id)
    if row is None:
        raise not_found()
    if any(found["contactCount"] is None for found in row["lists"].values()):
        async with db.read(snapshot=False) as conn:
            row["lists"] = await describe_lists(conn, project_id, row["to_lists"] + row["exclude_lists"])
    return _campaign_object(row, row["lists"], row["template"], counters.of_row(row), row["organization_id"])


def _list_item(row: dict, counts: dict, include_counts: bool) -> dict:
    item = present_summary(row)
    if include_counts or row["status"] == "sent":
        item.update(metrics=_metrics(row, counts), sentAt=iso(row["sent_at"]))
    return item


async def list_campaigns(
    db: Database, project_id: str, filters: CampaignFilter, page: Page, *, include_counts: bool = False
) -> dict:
    """{campaigns, pagination}: newest first, filtered; metrics for sent ones (all with includeCounts)."""
    async with db.quick_read() as conn:
        rows, total = await store.list_page(conn, project_id, filters, page)
    items = [_list_item(r, counters.of_row(r), include_counts) for r in rows]
    return {"campaigns": items, "pagination": page.describe(total)}


# --- update, delete, duplicate -------------------------------------------------------------


async def _miss(
    conn: AsyncConnection, project_id: str, campaign_id: str, code: str, message: str
) -> Conflict:
    """After a conditional UPDATE matched nothing: 404 if the campaign is absent, else this 409."""
    await _get_row(conn, project_id, campaign_id)
    return Conflict(message, code=code)


def _not_editable() -> Conflict:
    return Conflict(
        "Only draft or scheduled campaigns can be edited (paused: gradual settings only)",
        code="CAMPAIGN_NOT_EDITABLE",
    )


def _editable_from(fields: dict) -> tuple[str, ...]:
    given = {k for k in fields if k in rules.COLUMN_OF or k in ("from", "scheduledAt", "publish")}
    return rules.EDITABLE_WHEN_PAUSED if given <= rules.PAUSED_EDITABLE_FIELDS else rules.EDITABLE


def _changes(fields: dict, now: datetime) -> dict:
    """The column changes of a PATCH body (create-only fields are ignored)."""
    rules.raise_problems(rules.check_fields(fields))
    editable = {k: v for k, v in fields.items() if k not in rules.CREATE_ONLY_FIELDS}
    return {**rules.to_columns(editable), "updated_at": now}


async def update_campaign(
    db: Database,
    project_id: str,
    campaign_id: str,
    fields: dict,
    *,
    send_now_delay: int = DEFAULT_SEND_NOW_DELAY,
    only_drafts: bool = False,
    verified_domain: bool = False,
) -> dict:
    """PATCH: draft and scheduled campaigns; a paused one only its gradual settings (only drafts
    when `only_drafts`, as MCP asks)."""
    now = utcnow()
    async with db.write() as conn:
        current = await _get_row(conn, project_id, campaign_id)
        if current["status"] not in (("draft",) if only_drafts else _editable_from(fields)):
            raise _not_editable()
        changes = _changes(fields, now)
        await _check_references(conn, project_id, changes, verified_domain=verified_domain)
        merged = {**current, **changes}
        rules.check_combination(merged)
        schedule = _reschedule(current["status"], merged, fields, now, send_now_delay)
        changes.update(schedule)
        if not await store.transition(
            conn, campaign_id, store.status_in((current["status"],)), changes, project_id=project_id
        ):
            raise await _miss(conn, project_id, campaign_id, "CAMPAIGN_NOT_EDITABLE", _not_editable().message)
        if schedule:
            _log("campaign_scheduled", campaign_id, project_id, scheduled_at=iso(schedule["scheduled_at"]))
        return await present_campaign(conn, {**merged, **changes})


def _reschedule(status: str, merged: dict, fields: dict, now: datetime, delay: int) -> dict:
    """A scheduled campaign stays schedulable; a new time (or a draft's publish) sets the start.
    A paused campaign's schedule is not touched (it only takes gradual settings)."""
    if status not in rules.EDITABLE or (status == "draft" and not rules.wants_schedule(fields)):
        return {}
    if not rules.wants_schedule(fields) and merged["scheduled_at"] is not None:
        rules.check_schedulable(merged)
        return {}
    return _schedule(merged, fields, now, delay)


async def delete_campaign(db: Database, project_id: str, campaign_id: str) -> None:
    async with db.write() as conn:
        if not await store.delete_if(conn, campaign_id, project_id, rules.DELETABLE):
            await _get_row(conn, project_id, campaign_id)
            raise InvalidOperation(
                "Only draft campaigns can be deleted", code="ONLY_DRAFT_CAMPAIGNS_CAN_BE_DELETED"
            )


async def duplicate_campaign(db: Database, project_id: str, campaign_id: str, *, source: str = "api") -> dict:
    """A new draft with the original's settings, named "Copy of …"."""
    now = utcnow()
    async with db.write() as conn:
        original = await _get_row(conn, project_id, campaign_id)
        row = {
            **rules.DEFAULTS,
            **{k: original[k] for k in COPIED_COLUMNS},
            "id": ids.new_id(),
            "project_id": project_id,
            "name": rules.copy_name(original["name"]),
            "status": "draft",
            "source": source,
            "created_at": now,
            "updated_at": now,
        }
        await store.insert(conn, row)
        return await present_campaign(conn, row)


# --- pause, resume, abort ------------------------------------------------------------------


async def _act(
    db: Database, project_id: str, campaign_id: str, allowed, values_at, code: str, message: str
) -> dict:
    """One conditional transition; `values_at(now)` is stamped once the campaign's row is locked."""
    async with db.write() as conn:
        await store.lock_for_update(conn, campaign_id)
        if not await store.transition(conn, campaign_id, allowed, values_at(utcnow()), project_id=project_id):
            raise await _miss(conn, project_id, campaign_id, code, message)
        return present_summary(await _get_row(conn, project_id, campaign_id))


def _paused_at(now: datetime) -> dict:
    return {"status": "paused", "paused_at": now, "paused_reason": None, "updated_at": now}


async def pause_campaign(db: Database, project_id: str, campaign_id: str) -> dict:
    """sending / sending_gradual / gradual scheduled → paused; no new SMTP transaction starts
    once this returns (the stop fence)."""
    summary = await _act(
        db,
        project_id,
        campaign_id,
        store.pausable(),
        _paused_at,
        "CAMPAIGN_NOT_PAUSABLE",
        "Only sending campaigns (or gradual scheduled ones) can be paused",
    )
    _log("campaign_paused", campaign_id, project_id, reason=None, automatic=False)
    await _stop_fence(db, campaign_id)
    return summary


async def stop_fence(db: Database, campaign_id: str) -> None:
    """After a pause committed elsewhere (e.g. a domain deletion): wait out workers sending it."""
    await _stop_fence(db, campaign_id)


async def _stop_fence(db: Database, campaign_id: str) -> None:
    """After a pause/abort commit: no worker starts a MAIL FROM for it once we answer (store/fence.py)."""
    await db.fence.close(campaign_id)


async def resume_campaign(db: Database, project_id: str, campaign_id: str) -> dict:
    """paused → the sending state of its mode (or scheduled when it never started)."""
    summary = await _act(
        db,
        project_id,
        campaign_id,
        store.status_in(("paused",)),
        store.resume_values,
        "CAMPAIGN_NOT_RESUMABLE",
        "Only paused campaigns can be resumed",
    )
    _log("campaign_resumed", campaign_id, project_id, status=summary["status"])
    return summary


def _unscheduled(now: datetime) -> dict:
    return {"status": "draft", "scheduled_at": None, "send_now": False, "updated_at": now}


async def unschedule_campaign(db: Database, project_id: str, campaign_id: str) -> dict:
    """scheduled (not started yet) → draft, its start time cleared; nothing was queued, so nothing
    is cancelled."""
    summary = await _act(
        db,
        project_id,
        campaign_id,
        store.status_in(("scheduled",)),
        _unscheduled,
        "CAMPAIGN_NOT_UNSCHEDULABLE",
        "Only scheduled campaigns that have not started can be unscheduled",
    )
    _log("campaign_unscheduled", campaign_id, project_id)
    return summary


async def abort_campaign(db: Database, project_id: str, campaign_id: str) -> dict:
    """→ aborted, cancelling every queued/deferred ledger row in the same transaction.
    Aborting an aborted campaign answers with it unchanged (safe to retry)."""
    async with db.write() as conn:
        await store.lock_for_update(conn, campaign_id)
        now = utcnow()  # stamped once the row (SQLite: the database) is locked
        values = {"status": "aborted", "aborted_at": now, "updated_at": now}
        if await store.transition(
            conn, campaign_id, store.status_in(rules.ABORTABLE), values, project_id=project_id
        ):
            cancelled = await ledger.cancel_pending(conn, campaign_id, now)
            _log("campaign_aborted", campaign_id, project_id, cancelled=cancelled)
        row = await _get_row(conn, project_id, campaign_id)
    if row["status"] != "aborted":
        raise Conflict(
            "Only scheduled, sending or paused campaigns can be aborted", code="CAMPAIGN_NOT_ABORTABLE"
        )
    await _stop_fence(db, campaign_id)
    return present_summary(row)


# --- analytics -----------------------------------------------------------------------------


async def _counters_of(conn: AsyncConnection, row: dict) -> dict[str, int]:
    """The campaign's counters: from the row when it was read with them, else read now."""
    if counters.FIELDS[0] in row:
        return counters.of_row(row)
    return (await counters.read(conn, [row["id"]]))[row["id"]]


def _metrics(row: dict, found: dict[str, int]) -> dict:
    """The metrics object from the campaign's counters: ledger rows by status, plus opens, clicks,
    bounces, complaints and unsubscribes from events. A row refused at SMTP time (failed, with a
    bounce event) counts as sent and bounced."""
    statuses, feedback = counters.as_counts(found)
    found = rules.metrics(row, statuses)
    refused = feedback["failedBounced"]
    found.update(
        sent=found["sent"] + refused,
        failedCount=found["failedCount"] - refused,
        bounced=max(found["bounced"], feedback["bounced"]),
    )
    found.update({k: feedback[k] for k in ("opened", "clicked", "unsubscribed", "spamReported")})
    return found


async def campaign_analytics(db: Database, project_id: str, campaign_id: str) -> dict:
    """§2.11: counts from the campaign's counters, rates in percent, tracking switches."""
    async with db.quick_read() as conn:
        row = await store.get_with_counters(conn, campaign_id, project_id)
    if row is None:
        raise not_found()
    found = rules.analytics_counts(row, _metrics(row, counters.of_row(row)))
    found["humanOpened"] = row["human_opened"] if row["tracking_open"] else 0
    return {
        "campaignId": row["id"],
        "name": row["name"],
        "status": row["status"],
        "sentAt": iso(row["sent_at"]),
        "counts": found,
        "rates": rules.analytics_rates(found),
        "tracking": {"open": row["tracking_open"], "click": row["tracking_click"]},
        "refreshedAt": iso(utcnow()),
    }


async def send_preview(
    db: Database, project_id: str, campaign_id: str, *, send_now_delay: int = DEFAULT_SEND_NOW_DELAY
) -> dict:
    """What sending this campaign now would do, changing nothing: audience after suppression,
    content, start time and whatever still blocks scheduling it."""
    async with db.read() as conn:
        row = await _get_row(conn, project_id, campaign_id)
        total, suppressed = await expansion.count_audience(conn, row)
    try:
        rules.check_schedulable(row)
        problems = []
    except InvalidInput as exc:
        problems = exc.details
    start = rules.start_time(None, send_now=True, now=utcnow(), delay_seconds=send_now_delay)
    return {
        "campaignId": row["id"],
        "name": row["name"],
        "status": row["status"],
        "subject": row["subject"],
        "from": {"email": row["from_email"], "name": row["from_name"]},
        "replyTo": row["reply_to"],
        "audience": {"totalContacts": total, "suppressed": suppressed, "recipients": total - suppressed},
        "startsAt": iso(start),
        "canSend": row["status"] == "draft" and not problems,
        "problems": problems,
    }


# --- transitions driven by the scheduler ---------------------------------------------------


async def start_campaign(db: Database, campaign_id: str, now: datetime) -> dict | None:
    """scheduled → sending/sending_gradual with its audience expanded into ledger rows, in one
    transaction. None if the campaign was not scheduled. A campaign with nobody to send to is sent."""
    async with db.write() as conn:
        if not await store.transition(
            conn, campaign_id, store.status_in(("scheduled",)), store.start_values(now)
        ):
            return None
        row = await store.get(conn, campaign_id)
        assert row is not None  # the transition above matched it
        total, suppressed = await expansion.expand_audience(conn, row, now)
        values = {"total_contacts": total, "suppressed_count": suppressed}
        await store.transition(conn, campaign_id, store.status_in(rules.SENDING), values)
        _log("campaign_started", campaign_id, row["project_id"], total_contacts=total, suppressed=suppressed)
        await finish_if_complete(conn, campaign_id, now)
        return await store.get(conn, campaign_id)


async def finish_if_complete(conn: AsyncConnection, campaign_id: str, now: datetime) -> bool:
    """A sending campaign with no queued, sending or deferred row becomes sent; whether it changed."""
    allowed = store.status_in(rules.SENDING) & store.nothing_pending(campaign_id)
    if not await store.transition(
        conn, campaign_id, allowed, {"status": "sent", "sent_at": now, "updated_at": now}
    ):
        return False
    _log("campaign_finished", campaign_id)
    return True


async def pause_for_reason(
    conn: AsyncConnection, campaign_id: str, reason: str, now: datetime, *, action: str = "campaign_paused"
) -> bool:
    """Automatic pause (thresholds, relay failures, stale schedule) with pausedReason; whether it
    changed. Logged as `action` (automatic=True) after the commit."""
    values = {"status": "paused", "paused_at": now, "paused_reason": reason, "updated_at": now}
    if not await store.transition(conn, campaign_id, store.status_in(rules.AUTO_PAUSABLE), values):
        return False
    _log(action, campaign_id, reason=reason, automatic=True)
    return True
