"""services/feedback.record, the one writer of a message's fate, called directly on both databases:
for each fate the ledger status, the `message_events` rows, the suppressions, the webhook deliveries
(once per event, with one subscription lookup per call however many events and projects), repeats
that record nothing, and the auto-pause decision it returns."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from sendhouse.domain import bounces as reports
from sendhouse.domain.fates import (
    Bounced,
    Clicked,
    Complained,
    Deferred,
    Failed,
    Opened,
    Resubscribed,
    Sent,
    Source,
    Unsubscribed,
)
from sendhouse.domain.times import utcnow
from sendhouse.domain.tokens import UnsubscribeTarget
from sendhouse.services import feedback
from sendhouse.store import suppressions as group_store
from sendhouse.store import webhooks as webhook_store
from sendhouse.store.schema.campaigns import campaigns, messages
from tests.support.feedback_data import (
    deliveries,
    events_of,
    row_status,
    sent_campaign,
    subscribe_all,
    suppressed,
)
from tests.support.sending_data import campaign_row

WORKER = "worker-1"


@pytest.fixture
def lookups(monkeypatch) -> list[list[str]]:
    """The project ids of every webhook-subscription lookup made while the test runs."""
    seen: list[list[str]] = []
    real = webhook_store.active_webhooks_of

    async def counted(conn, project_ids):
        seen.append(list(project_ids))
        return await real(conn, project_ids)

    monkeypatch.setattr(webhook_store, "active_webhooks_of", counted)
    return seen


async def _record(db, records, **options):
    async with db.write() as conn:
        return await feedback.record(conn, records, now=utcnow(), **options)


async def _leased(db, rows: list[dict]) -> None:
    """The rows as a worker holds them while sending."""
    async with db.write() as conn:
        await conn.execute(
            messages.update()
            .where(messages.c.id.in_([r["id"] for r in rows]))
            .values(status="sending", lease_owner=WORKER, sent_at=None)
        )


async def _global(db, project_id: str) -> str:
    async with db.read() as conn:
        return (await group_store.global_group(conn, project_id))["group_code"]


async def _sending(db, campaign_id: str) -> None:
    async with db.write() as conn:
        await conn.execute(campaigns.update().where(campaigns.c.id == campaign_id).values(status="sending"))


def _report(kind: str, status: str) -> reports.Feedback:
    return reports.Feedback(
        kind=kind,
        status=status,
        reason=f"smtp; 550 {status} gone",
        sub_type=reports.sub_type(status, kind == reports.HARD),
        complaint_type="abuse" if kind == reports.COMPLAINT else None,
    )


async def test_worker_fates_change_the_ledger_and_raise_each_webhook_once(api, tenant, lookups):
    _cid, rows = await sent_campaign(api.db, tenant.project_id, 4)
    await _leased(api.db, rows)
    await subscribe_all(api.db, tenant.project_id)
    retry_at = utcnow()
    done = await _record(
        api.db,
        [
            Sent(rows[0], response="250 ok"),
            Deferred(rows[1], error="451 4.3.0 try later", retry_at=retry_at),
            Failed(rows[2], error="could not build", response="could not build"),
            Bounced.at_smtp(rows[3], 550, "5.1.1 no such user"),
        ],
        worker=WORKER,
    )
    assert [await row_status(api.db, r["id"]) for r in rows] == ["sent", "deferred", "failed", "failed"]
    [event] = await events_of(api.db, campaign_id=rows[0]["campaign_id"])
    assert (event["type"], event["message_id"], event["detail"]["source"], event["detail"]["code"]) == (
        "bounced",
        rows[3]["id"],
        "smtp",
        550,
    )
    assert await suppressed(api.db, tenant.project_id) == {
        (rows[3]["email"], await _global(api.db, tenant.project_id), "BOUNCE")
    }
    sent = await deliveries(api.db, tenant.project_id)
    assert [(name, data["emailId"]) for name, data in sent] == [
        ("email.sent", rows[0]["id"]),
        ("email.delivered", rows[0]["id"]),
        ("email.deferred", rows[1]["id"]),
        ("email.bounced", rows[3]["id"]),
    ]
    assert sent[2][1]["delayReason"] == "451 4.3.0 try later" and sent[3][1]["bounceSubType"] == "NoEmail"
    assert lookups == [[tenant.project_id]]
    assert (done.paused, len(done.written), done.suppressed) == ([], 4, [done.written[3]])


async def test_rows_another_worker_leases_are_not_changed_except_by_a_250(api, tenant):
    _cid, rows = await sent_campaign(api.db, tenant.project_id, 3)
    await _leased(api.db, rows)
    await _record(
        api.db,
        [
            Sent(rows[0], response="250 ok"),
            Deferred(rows[1], error="451 later", retry_at=utcnow()),
            Failed(rows[2], error="550 no", response="550 no"),
        ],
        worker="another",
    )
    assert [await row_status(api.db, r["id"]) for r in rows] == ["sent", "sending", "sending"]


async def test_one_lookup_per_call_for_many_events_of_several_projects(api, tenant, other_tenant, lookups):
    _cid, rows = await sent_campaign(api.db, tenant.project_id, 10)
    _oid, others = await sent_campaign(api.db, other_tenant.project_id, 2, prefix="other")
    await _leased(api.db, rows + others)
    await subscribe_all(api.db, tenant.project_id)
    await subscribe_all(api.db, other_tenant.project_id)
    await _record(api.db, [Sent(r, response="250 ok") for r in rows + others], worker=WORKER)
    assert len(lookups) == 1 and sorted(lookups[0]) == sorted([tenant.project_id, other_tenant.project_id])
    mine, theirs = (
        await deliveries(api.db, tenant.project_id),
        await deliveries(api.db, other_tenant.project_id),
    )
    assert sorted(data["emailId"] for name, data in mine if name == "email.sent") == sorted(
        r["id"] for r in rows
    )
    assert len(mine) == 20 and len(theirs) == 4
    assert {data["emailId"] for _n, data in theirs} == {r["id"] for r in others}


async def test_no_subscriber_means_no_delivery_and_nothing_new_means_no_lookup(api, tenant, lookups):
    _cid, rows = await sent_campaign(api.db, tenant.project_id, 1)
    hard = Bounced.reported(rows[0], _report(reports.HARD, "5.1.1"), Source.DSN)
    assert (await _record(api.db, [hard])).written == [hard]
    assert await deliveries(api.db, tenant.project_id) == [] and len(lookups) == 1
    again = await _record(api.db, [Bounced.reported(rows[0], _report(reports.HARD, "5.1.1"), Source.HTTP)])
    assert again.written == [] and len(lookups) == 1
    assert (await _record(api.db, [])).written == [] and len(lookups) == 1


async def test_a_reported_hard_bounce_bounces_a_sent_row_once(api, tenant, lookups):
    _cid, rows = await sent_campaign(api.db, tenant.project_id, 2)
    await subscribe_all(api.db, tenant.project_id)
    report = _report(reports.HARD, "5.1.1")
    first = await _record(
        api.db, [Bounced.reported(rows[0], report, Source.DSN), Bounced.reported(rows[0], report, Source.DSN)]
    )  # twice in one call: once
    again = await _record(api.db, [Bounced.reported(rows[0], report, Source.HTTP)])
    assert (len(first.written), len(first.suppressed), again.written) == (1, 1, [])
    assert [await row_status(api.db, r["id"]) for r in rows] == ["bounced", "sent"]
    [event] = await events_of(api.db, type="bounced")
    assert (event["message_id"], event["detail"]["source"], event["detail"]["status"]) == (
        rows[0]["id"],
        "dsn",
        "5.1.1",
    )
    [(name, data)] = await deliveries(api.db, tenant.project_id)
    assert (name, data["bounceType"], data["bounceSubType"]) == ("email.bounced", "Permanent", "NoEmail")
    assert {(e, r) for e, _g, r in await suppressed(api.db, tenant.project_id)} == {
        (rows[0]["email"], "BOUNCE")
    }
    assert len(lookups) == 1


async def test_soft_bounces_suppress_at_the_limit_and_leave_the_row_sent(api, tenant):
    _cid, rows = await sent_campaign(api.db, tenant.project_id, 1)
    await subscribe_all(api.db, tenant.project_id)
    soft = _report(reports.SOFT, "4.2.2")
    first = await _record(api.db, [Bounced.reported(rows[0], soft, Source.DSN)], soft_limit=2)
    assert first.suppressed == [] and await suppressed(api.db, tenant.project_id) == set()
    second = await _record(api.db, [Bounced.reported(rows[0], soft, Source.HTTP)], soft_limit=2)
    assert len(second.suppressed) == 1 and len(await suppressed(api.db, tenant.project_id)) == 1
    assert await row_status(api.db, rows[0]["id"]) == "sent"
    assert [e["type"] for e in await events_of(api.db, message_id=rows[0]["id"])] == ["soft_bounced"] * 2
    assert [
        (n, d["bounceType"], d["bounceSubType"]) for n, d in await deliveries(api.db, tenant.project_id)
    ] == [("email.bounced", "Transient", "MailboxFull")] * 2
    with pytest.raises(ValueError, match="soft_limit"):
        await _record(api.db, [Bounced.reported(rows[0], soft, Source.DSN)])


async def test_a_complaint_suppresses_globally_once_and_reports_spam(api, tenant):
    _cid, rows = await sent_campaign(api.db, tenant.project_id, 1)
    await subscribe_all(api.db, tenant.project_id)
    complaint = Complained.reported(rows[0], _report(reports.COMPLAINT, "5.7.1"), Source.ARF)
    assert (await _record(api.db, [complaint])).suppressed == [complaint]
    assert (await _record(api.db, [complaint])).written == []
    [event] = await events_of(api.db, message_id=rows[0]["id"])
    assert (event["type"], event["detail"]["complaintType"], event["detail"]["source"]) == (
        "complained",
        "abuse",
        "arf",
    )
    assert await suppressed(api.db, tenant.project_id) == {
        (rows[0]["email"], await _global(api.db, tenant.project_id), "COMPLAINT")
    }
    assert [(n, d["complaintType"]) for n, d in await deliveries(api.db, tenant.project_id)] == [
        ("email.spam_reported", "abuse")
    ]
    assert await row_status(api.db, rows[0]["id"]) == "sent"


async def test_opens_and_clicks_are_events_and_only_human_opens_are_webhooks(api, tenant, lookups):
    _cid, rows = await sent_campaign(api.db, tenant.project_id, 2)
    await subscribe_all(api.db, tenant.project_id)
    at = utcnow()
    await _record(
        api.db,
        [
            Opened(rows[0], when=at),
            Opened(rows[1], when=at, automated=True),
            Clicked(rows[0], when=at, url="https://example.com/a"),
        ],
    )
    found = sorted((e["message_id"], e["type"], e["is_automated"], e["url"]) for e in await events_of(api.db))
    assert found == sorted(
        [
            (rows[0]["id"], "opened", False, None),
            (rows[1]["id"], "opened", True, None),
            (rows[0]["id"], "clicked", False, "https://example.com/a"),
        ]
    )
    assert [(n, d["emailId"]) for n, d in await deliveries(api.db, tenant.project_id)] == [
        ("email.opened", rows[0]["id"]),
        ("email.clicked", rows[0]["id"]),
    ]
    assert [await row_status(api.db, r["id"]) for r in rows] == ["sent", "sent"]
    assert await suppressed(api.db, tenant.project_id) == set() and len(lookups) == 1


async def _group(api, tenant) -> dict:
    response = await api.client.post("/v1/suppression-groups", json={"name": "News"}, headers=tenant.headers)
    async with api.db.read() as conn:
        return await group_store.get_group(conn, tenant.project_id, response.json()["data"]["groupId"])


async def test_unsubscribe_and_resubscribe_of_a_group(api, tenant, lookups):
    _cid, rows = await sent_campaign(api.db, tenant.project_id, 1)
    await subscribe_all(api.db, tenant.project_id)
    group = await _group(api, tenant)
    target = UnsubscribeTarget(tenant.project_id, rows[0]["email"], group["group_code"], rows[0]["id"])
    done = await _record(api.db, [Unsubscribed(rows[0], target=target, group=group)])
    assert len(done.suppressed) == 1
    assert await suppressed(api.db, tenant.project_id) == {
        (rows[0]["email"], group["group_code"], "UNSUBSCRIBE")
    }
    await _record(api.db, [Resubscribed(rows[0], target=target, group=group)])
    assert [(e["type"], e["detail"]) for e in await events_of(api.db, message_id=rows[0]["id"])] == [
        ("unsubscribed", {"groupId": group["group_code"], "isGlobal": False}),
        ("resubscribed", {"groupId": group["group_code"], "isGlobal": False}),
    ]
    sent = await deliveries(api.db, tenant.project_id)
    assert [(n, d["emailId"], d["unsubscribeGroupId"]) for n, d in sent] == [
        ("email.group_unsubscribed", rows[0]["id"], group["group_code"]),
        ("email.group_resubscribed", rows[0]["id"], group["group_code"]),
    ]
    assert len(lookups) == 2


async def test_an_unsubscribe_whose_row_is_gone_suppresses_and_notifies_without_an_event(api, tenant):
    await subscribe_all(api.db, tenant.project_id)
    async with api.db.read() as conn:
        group = await group_store.global_group(conn, tenant.project_id)
    target = UnsubscribeTarget(tenant.project_id, "gone@example.com", None, "0" * 24)
    await _record(api.db, [Unsubscribed(None, target=target, group=group)])
    assert await suppressed(api.db, tenant.project_id) == {
        ("gone@example.com", group["group_code"], "UNSUBSCRIBE")
    }
    assert await events_of(api.db) == []
    [(name, data)] = await deliveries(api.db, tenant.project_id)
    assert name == "email.unsubscribed" and "emailId" not in data


async def test_the_auto_pause_decision_is_returned_and_applied(api, tenant):
    cid, rows = await sent_campaign(api.db, tenant.project_id, 100)
    await _sending(api.db, cid)
    hard = _report(reports.HARD, "5.1.1")
    below = await _record(
        api.db, [Bounced.reported(r, hard, Source.DSN) for r in rows[:3]]
    )  # 3 %: not above 3 %
    assert below.paused == [] and (await campaign_row(api.db, cid))["status"] == "sending"
    over = await _record(api.db, [Bounced.reported(rows[3], hard, Source.HTTP)])
    assert over.paused == [cid]
    paused = await campaign_row(api.db, cid)
    assert paused["status"] == "paused" and paused["paused_reason"].startswith(
        "Auto-paused: Bounce rate 4.00%"
    )


async def test_smtp_refusals_and_complaints_also_decide_the_auto_pause(api, tenant):
    cid, rows = await sent_campaign(api.db, tenant.project_id, 100)
    _other, others = await sent_campaign(api.db, tenant.project_id, 100, prefix="second")
    await _sending(api.db, cid)
    await _sending(api.db, _other)
    await _leased(api.db, rows[:4])
    refused = await _record(
        api.db, [Bounced.at_smtp(r, 550, "5.1.1 unknown") for r in rows[:4]], worker=WORKER
    )
    complaint = await _record(
        api.db, [Complained.reported(others[0], _report(reports.COMPLAINT, "5.7.1"), Source.ARF)]
    )
    assert (refused.paused, complaint.paused) == ([cid], [_other])
    async with api.db.read() as conn:
        statuses = dict((await conn.execute(sa.select(campaigns.c.id, campaigns.c.status))).all())
    assert statuses == {cid: "paused", _other: "paused"}
