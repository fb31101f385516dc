"""One path for a message's fate (DESIGN §5): `record(conn, records, now=...)` is the only writer of
what became of a ledger row: sent, deferred, failed, bounced (at SMTP time, by DSN, over HTTP),
complained, opened, clicked, unsubscribed (and resubscribed). The worker (services/sending), the
inbound receiver and POST /v1/inbound/bounce (services/bounces), the tracking recorder
(services/tracking) and the unsubscribe pages (services/unsubscribe) hand it typed records
(domain/fates.py says what each fate leaves behind).

Inside the caller's transaction, in this order:
1. repeats are dropped (a hard bounce or a complaint already recorded for the row records nothing);
2. ledger rows change, through store/ledger.py;
3. the `message_events` rows, in one insert;
4. suppressions (a soft bounce: once the address has `soft_limit` of them in the project);
5. email.* webhooks: the subscriptions of every project involved are looked up once, payloads are
   built only for events some webhook wants, and every delivery is stored in one insert;
6. the auto-pause check (DESIGN §2) of each campaign with a new bounce or complaint: a campaign over
   its thresholds is paused in the same transaction, and its id returned in `Recorded.paused`.
Log events (bounce_received, complaint_received, unsubscribed, resubscribed) follow the commit.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sendhouse.domain import bounces as bounce_rules
from sendhouse.domain import ids
from sendhouse.domain import webhooks as hooks
from sendhouse.domain.fates import (
    Bounced,
    BounceKind,
    Complained,
    Deferred,
    Failed,
    FateRecord,
    Sent,
    Source,
    Unsubscribed,
)
from sendhouse.services import webhooks as webhook_service
from sendhouse.services.campaigns import pause_for_reason
from sendhouse.services.suppressions import suppress
from sendhouse.store import events as store
from sendhouse.store import ledger
from sendhouse.store.db import event_after_commit

_bounce_log = logging.getLogger("sendhouse.bounces")
_unsubscribe_log = logging.getLogger("sendhouse.unsubscribe")


@dataclass
class Recorded:
    """What one call recorded."""

    written: list[FateRecord] = field(default_factory=list)  # the records given, repeats left out
    suppressed: list[FateRecord] = field(default_factory=list)  # records whose address got suppressed
    paused: list[str] = field(default_factory=list)  # campaigns auto-paused in this transaction

    def is_new(self, item: FateRecord) -> bool:
        return any(done is item for done in self.written)

    def has_suppressed(self, item: FateRecord) -> bool:
        return any(done is item for done in self.suppressed)


async def record(
    conn,
    records: Sequence[FateRecord],
    *,
    now: datetime,
    worker: str | None = None,
    soft_limit: int | None = None,
) -> Recorded:
    """Record these fates inside the caller's transaction (see the module docstring). worker: the
    lease holder whose rows deferred / failed / refused rows must still be; soft_limit: soft bounces
    of one address before it is suppressed (needed when soft bounces are recorded)."""
    done = Recorded(written=await _fresh(conn, records))
    if not done.written:
        return done
    await _ledger(conn, done.written, now, worker)
    await store.insert_events(conn, _event_rows(done.written, now))
    done.suppressed = [item for item in done.written if await _suppressed(conn, item, soft_limit)]
    await _webhooks(conn, done.written, now)
    _log(done)
    done.paused = await _pause_checks(conn, done.written, now)
    return done


async def _fresh(conn, records: Sequence[FateRecord]) -> list[FateRecord]:
    """The records that are not repeats of one already recorded (or of one earlier in the list)."""
    fresh, seen = [], set()
    for item in records:
        key = item.repeat_key
        if key is not None:
            if key in seen or await store.has_event(conn, *key):
                continue
            seen.add(key)
        fresh.append(item)
    return fresh


# --- the ledger row ------------------------------------------------------------------------


async def _ledger(conn, records: list[FateRecord], now: datetime, worker: str | None) -> None:
    """Sent, deferred and failed rows (a refusal at SMTP time fails the row); a hard bounce reported
    after delivery turns a sent row into a bounced one."""
    of = _sorted(records)
    sent = [
        {"row_id": r.row["id"], "response": r.response, "campaign_id": r.row["campaign_id"]} for r in of[Sent]
    ]
    await ledger.mark_sent(conn, sent, now)
    await ledger.mark_deferred(
        conn,
        [{"row_id": r.row["id"], "error": r.error, "retry_at": r.retry_at} for r in of[Deferred]],
        now,
        worker,
    )
    failed = [{"row_id": r.row["id"], "error": r.error, "response": r.response} for r in of[Failed]]
    failed += [
        {"row_id": r.row["id"], "error": r.reason, "response": r.reason}
        for r in of[Bounced]
        if r.source == Source.SMTP
    ]
    await ledger.mark_failed(conn, failed, now, worker)
    await ledger.mark_bounced(
        conn, [r.row["id"] for r in of[Bounced] if r.source != Source.SMTP and r.kind == BounceKind.HARD], now
    )


def _sorted(records: list[FateRecord]) -> dict[type, list]:
    of: dict[type, list] = {Sent: [], Deferred: [], Failed: [], Bounced: []}
    for item in records:
        if type(item) in of:
            of[type(item)].append(item)
    return of


# --- events and suppressions ---------------------------------------------------------------


def _event_rows(records: list[FateRecord], now: datetime) -> list[dict]:
    """The `message_events` rows of the records that leave one."""
    return [_event_row(item, row, now) for item in records if (row := item.event_row) is not None]


def _event_row(item: FateRecord, row: dict, now: datetime) -> dict:
    return {
        "id": ids.new_id(),
        "project_id": row["project_id"],
        "message_id": row["id"],
        "campaign_id": row["campaign_id"],
        "email": item.event_email,
        "type": item.event_type,
        "url": item.event_url,
        "is_automated": item.is_automated,
        "detail": item.detail(),
        "created_at": item.at or now,
    }


async def _suppressed(conn, item: FateRecord, soft_limit: int | None) -> bool:
    """Suppress the address when the fate asks for it; whether it did."""
    entry = item.suppression()
    if entry is None:
        return False
    if isinstance(item, Bounced) and item.kind == BounceKind.SOFT:
        if soft_limit is None:
            raise ValueError("recording a soft bounce needs soft_limit")
        if await store.soft_bounces_of(conn, entry.project_id, entry.email) < soft_limit:
            return False
    await suppress(
        conn,
        entry.project_id,
        entry.email,
        reason=entry.reason,
        group_code=entry.group_code,
        source_message_id=entry.source_message_id,
    )
    return True


# --- webhooks ------------------------------------------------------------------------------


async def _webhooks(conn, records: list[FateRecord], now: datetime) -> None:
    """Every email.* event of these records: one subscription lookup, one insert."""
    subscribed = await webhook_service.subscriptions(conn, {item.project_id for item in records})
    payloads = Payloads(conn)
    events = []
    for item in records:
        for event, extra in item.webhooks():
            if subscribed.wants(item.project_id, event):
                events.append((item.project_id, event, await payloads.data(event, item.row, extra)))
    await webhook_service.emit_many(conn, events, now=now, subscribed=subscribed)


class Payloads:
    """Builds email.* webhook data for ledger rows, looking each campaign's content up once."""

    def __init__(self, conn):
        self.conn = conn
        self._context: dict[str, dict] = {}

    async def data(self, event: str, row: dict | None, extra: dict) -> dict:
        """The data of an email.* event of this ledger row (None: an unsubscribe whose row is gone)."""
        if event in hooks.SUBSCRIPTION_EVENTS:
            return await self.subscription_data(event, row, extra)
        if row is None:
            raise ValueError(f"{event} needs the message's ledger row")
        return await self.email_data(event, row, extra)

    async def subscription_data(self, event: str, row: dict | None, extra: dict) -> dict:
        context = await self.context(row) if row else {}
        return hooks.subscription_data(
            event,
            email_id=context.get("emailId"),
            unsubscribe_group_id=extra["unsubscribeGroupId"],
            campaign_id=row["campaign_id"] if row else None,
            template_id=context.get("templateId"),
            batch_id=row.get("batch_id") if row else None,
            workflow_automation_id=context.get("workflowAutomationId"),
        )

    async def email_data(self, event: str, row: dict, extra: dict) -> dict:
        context = await self.context(row)
        email_id = row["id"] if row.get("campaign_id") else context["emailId"]
        return hooks.email_data(
            event,
            email_id=email_id,
            from_email=context["from"],
            to_email=row["email"],
            to_name=row.get("name"),
            subject=context["subject"],
            campaign_id=row.get("campaign_id"),
            template_id=context["templateId"],
            workflow_automation_id=context.get("workflowAutomationId"),
            batch_id=row.get("batch_id") or context.get("batchId"),
            **extra,
        )

    async def context(self, row: dict) -> dict:
        key = row["campaign_id"] or row["id"]
        if key not in self._context:
            self._context[key] = await message_context(self.conn, row)
        return self._context[key]


async def message_context(conn, row: dict) -> dict:
    """{emailId, from, subject, templateId, groupCode, batchId?, workflowAutomationId?} of a campaign or transactional row:
    what webhooks and unsubscribes need to know of its content."""
    if row.get("campaign_id"):
        campaign = await store.campaign_context(conn, row["campaign_id"]) or {}
        return {
            "emailId": row["id"],
            "from": campaign.get("from_email") or "",
            "subject": campaign.get("subject") or "",
            "templateId": campaign.get("template_id"),
            "groupCode": campaign.get("unsubscribe_group_id"),
        }
    payload = await ledger.payload_of(conn, row["id"])
    content = payload.get("content")
    if content is None and payload.get("contentRowId"):
        content = (await ledger.payload_of(conn, payload["contentRowId"])).get("content")
    content = content or {}
    return {
        "emailId": payload.get("emailId") or row["id"],
        "from": (content.get("from") or {}).get("email") or "",
        "subject": content.get("subject") or "",
        "templateId": content.get("templateId"),
        "groupCode": content.get("unsubscribeGroupId"),
        "batchId": content.get("batchId"),
        "workflowAutomationId": payload.get("workflowAutomationId"),
    }


# --- log events and the auto-pause check ---------------------------------------------------


def _log(done: Recorded) -> None:
    """bounce_received / complaint_received for reports, unsubscribed / resubscribed, after the commit
    (bounces at SMTP time are logged with the worker's outcomes)."""
    for item in done.written:
        if isinstance(item, Unsubscribed):
            event_after_commit(
                _unsubscribe_log,
                str(item.fate),
                project_id=item.target.project_id,
                message_id=item.target.message_id,
                group_id=item.group["group_code"],
                is_global=bool(item.group["is_global"]),
            )
        elif isinstance(item, Complained | Bounced) and item.source != Source.SMTP:
            kind = bounce_rules.COMPLAINT if isinstance(item, Complained) else str(item.kind)
            event_after_commit(
                _bounce_log,
                "complaint_received" if isinstance(item, Complained) else "bounce_received",
                message_id=item.row["id"],
                campaign_id=item.row["campaign_id"],
                project_id=item.row["project_id"],
                bounce_type=kind,
                source=str(item.source),
                suppressed=done.has_suppressed(item),
            )


async def _pause_checks(conn, records: list[FateRecord], now: datetime) -> list[str]:
    campaign_ids = sorted(
        {
            item.row["campaign_id"]
            for item in records
            if item.pause_check and item.row and item.row["campaign_id"]
        }
    )
    return [campaign_id for campaign_id in campaign_ids if await check_thresholds(conn, campaign_id, now)]


async def check_thresholds(conn, campaign_id: str, now: datetime) -> bool:
    """Pause the campaign when its bounce or complaint rate crossed its preset; whether it paused."""
    campaign = await store.campaign_context(conn, campaign_id)
    if campaign is None:
        return False
    basis = await store.rate_basis(conn, campaign_id)
    reason = bounce_rules.threshold_breach(campaign["threshold_preset"], **basis)
    # logged as campaign_paused (automatic) by pause_for_reason
    return bool(reason) and await pause_for_reason(conn, campaign_id, f"Auto-paused: {reason}", now)
