"""Structured log events of state changes, on SQLite and PostgreSQL, through real service calls:
each action logs exactly its event (campaign lifecycle, scheduler pauses and aborts, bounces,
complaints, unsubscribes, imports, webhook attempts) with its ids, once its transaction has
committed; a refused action or a rolled-back transaction logs nothing."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from sendhouse.domain.times import iso, utcnow
from sendhouse.errors import Conflict
from sendhouse.scheduler import Scheduler
from sendhouse.services import campaigns as campaign_service
from sendhouse.services import imports
from sendhouse.services import projects as project_service
from sendhouse.services import unsubscribe as unsubscribe_service
from sendhouse.services import webhooks as webhook_service
from sendhouse.store.db import after_commit
from tests.support.feedback_data import sent_campaign, target_of
from tests.support.http_receiver import HttpReceiver
from tests.support.sending_data import HTML, campaign_row, seed_list

QUIET = {"api_request", "log"}  # request lines and plain log calls are not action events


@pytest.fixture
def logged(caplog):
    """logged() -> [(action, fields)] of the action events since the last call."""
    caplog.set_level(logging.INFO, logger="sendhouse")

    def take() -> list[tuple[str, dict]]:
        found = [(r.action, vars(r)) for r in caplog.records if getattr(r, "action", "log") not in QUIET]
        caplog.clear()
        return found

    return take


def actions(found: list[tuple[str, dict]]) -> list[str]:
    return [action for action, _fields in found]


async def _project(container) -> str:
    return (await project_service.create_project(container.db, name="logs"))["id"]


async def _draft(container, project_id: str, size: int = 3, *, prefix: str = "user", **fields) -> str:
    list_id = await seed_list(container.db, project_id, size, prefix=prefix)
    body = {
        "name": "Launch",
        "subject": "Hello",
        "htmlTemplate": HTML,
        "from": {"email": "news@example.com"},
        "toLists": [list_id],
        **fields,
    }
    return (await campaign_service.create_campaign(container.db, project_id, body, send_now_delay=0))["id"]


async def test_campaign_lifecycle_logs_one_event_per_transition(container, logged):
    project_id = await _project(container)
    logged()
    cid = await _draft(container, project_id)
    [(action, fields)] = logged()
    assert (action, fields["campaign_id"], fields["project_id"], fields["status"]) == (
        "campaign_created",
        cid,
        project_id,
        "draft",
    )
    await campaign_service.update_campaign(container.db, project_id, cid, {"sendNow": True}, send_now_delay=0)
    [(action, fields)] = logged()
    due = (await campaign_row(container.db, cid))["scheduled_at"]
    assert (action, fields["campaign_id"], fields["scheduled_at"]) == ("campaign_scheduled", cid, iso(due))
    assert (await Scheduler(container).tick(due))["started"] == [cid]
    [(action, fields)] = logged()
    assert (action, fields["campaign_id"], fields["total_contacts"], fields["suppressed"]) == (
        "campaign_started",
        cid,
        3,
        0,
    )


async def test_pause_resume_abort_log_their_events_and_the_cancelled_rows(container, logged):
    project_id = await _project(container)
    cid = await _draft(container, project_id, 4, sendNow=True)
    await campaign_service.start_campaign(container.db, cid, utcnow())
    logged()
    await campaign_service.pause_campaign(container.db, project_id, cid)
    [(action, fields)] = logged()
    assert (action, fields["campaign_id"], fields["automatic"], fields["reason"]) == (
        "campaign_paused",
        cid,
        False,
        None,
    )
    await campaign_service.resume_campaign(container.db, project_id, cid)
    [(action, fields)] = logged()
    assert (action, fields["campaign_id"], fields["status"]) == ("campaign_resumed", cid, "sending")
    await campaign_service.abort_campaign(container.db, project_id, cid)
    [(action, fields)] = logged()
    assert (action, fields["campaign_id"], fields["project_id"], fields["cancelled"]) == (
        "campaign_aborted",
        cid,
        project_id,
        4,
    )
    await campaign_service.abort_campaign(container.db, project_id, cid)  # already aborted: no change
    assert logged() == []


async def test_create_scheduled_logs_created_then_scheduled(container, logged):
    project_id = await _project(container)
    logged()
    cid = await _draft(container, project_id, sendNow=True)
    found = logged()
    assert actions(found) == ["campaign_created", "campaign_scheduled"]
    assert [f["campaign_id"] for _a, f in found] == [cid, cid] and found[0][1]["status"] == "scheduled"


async def test_a_campaign_with_nobody_to_send_to_starts_and_finishes(container, logged):
    project_id = await _project(container)
    cid = await _draft(container, project_id, 0, sendNow=True)
    logged()
    await campaign_service.start_campaign(container.db, cid, utcnow())
    found = logged()
    assert actions(found) == ["campaign_started", "campaign_finished"]
    assert [f["campaign_id"] for _a, f in found] == [cid, cid] and found[0][1]["total_contacts"] == 0


async def test_refused_actions_and_rolled_back_changes_log_nothing(container, logged):
    project_id = await _project(container)
    cid = await _draft(container, project_id, sendNow=True)
    logged()
    with pytest.raises(Conflict):
        await campaign_service.pause_campaign(container.db, project_id, cid)  # scheduled, not sending
    await campaign_service.start_campaign(container.db, cid, utcnow())
    logged()
    with pytest.raises(RuntimeError):
        async with container.db.write() as conn:
            assert await campaign_service.pause_for_reason(conn, cid, "relay down", utcnow())
            raise RuntimeError("the transaction rolls back")
    assert logged() == []
    assert (await campaign_row(container.db, cid))["status"] == "sending"


async def test_after_commit_outside_a_transaction_runs_at_once():
    ran = []
    after_commit(lambda: ran.append(1))
    assert ran == [1]


async def test_automatic_pause_logs_its_reason(container, logged):
    project_id = await _project(container)
    cid = await _draft(container, project_id, sendNow=True)
    await campaign_service.start_campaign(container.db, cid, utcnow())
    logged()
    async with container.db.write() as conn:
        assert await campaign_service.pause_for_reason(conn, cid, "relay down", utcnow())
    [(action, fields)] = logged()
    assert (action, fields["campaign_id"], fields["reason"], fields["automatic"]) == (
        "campaign_paused",
        cid,
        "relay down",
        True,
    )


async def test_scheduler_stale_pause_and_auto_abort_log_their_own_events(container, logged):
    project_id = await _project(container)
    cid = await _draft(container, project_id, 2, sendNow=True)
    due = (await campaign_row(container.db, cid))["scheduled_at"]
    logged()
    late = due + timedelta(seconds=container.settings.stale_schedule_after + 60)
    assert (await Scheduler(container).tick(late))["stale"] == [cid]
    [(action, fields)] = logged()
    assert (action, fields["campaign_id"], fields["automatic"]) == (
        "campaign_stale_schedule_paused",
        cid,
        True,
    )
    assert "missed" in fields["reason"]
    other = await _draft(container, project_id, 3, prefix="other", sendNow=True)
    await campaign_service.start_campaign(container.db, other, utcnow())
    await campaign_service.pause_campaign(container.db, project_id, other)
    paused_at = (await campaign_row(container.db, other))["paused_at"]
    logged()
    assert other in (await Scheduler(container).tick(paused_at + timedelta(days=14, seconds=1)))["aborted"]
    found = [f for a, f in logged() if a == "campaign_auto_aborted"]
    assert [(f["campaign_id"], f["cancelled"]) for f in found if f["campaign_id"] == other] == [(other, 3)]


async def test_bounce_and_complaint_reports_log_once(api, tenant, logged):
    cid, rows = await sent_campaign(api.db, tenant.project_id, 2)
    logged()
    body = {
        "emailId": rows[0]["id"],
        "email": rows[0]["email"],
        "type": "hard",
        "status": "5.1.1",
        "code": 550,
    }
    assert (await api.client.post("/v1/inbound/bounce", json=body, headers=tenant.headers)).status_code == 200
    [(action, fields)] = logged()
    assert (action, fields["message_id"], fields["campaign_id"], fields["project_id"]) == (
        "bounce_received",
        rows[0]["id"],
        cid,
        tenant.project_id,
    )
    assert (fields["bounce_type"], fields["source"], fields["suppressed"]) == ("hard", "http", True)
    assert (await api.client.post("/v1/inbound/bounce", json=body, headers=tenant.headers)).status_code == 200
    assert logged() == []  # the same report twice records nothing new
    complaint = {"emailId": rows[1]["id"], "email": rows[1]["email"], "type": "complaint"}
    assert (
        await api.client.post("/v1/inbound/bounce", json=complaint, headers=tenant.headers)
    ).status_code == 200
    [(action, fields)] = logged()
    assert (action, fields["message_id"], fields["campaign_id"]) == ("complaint_received", rows[1]["id"], cid)


async def test_unsubscribe_logs_once(api, tenant, logged):
    _cid, rows = await sent_campaign(api.db, tenant.project_id, 1)
    logged()
    done = await unsubscribe_service.unsubscribe(api.db, target_of(rows[0]))
    [(action, fields)] = logged()
    assert done["changed"] is True
    assert (action, fields["message_id"], fields["project_id"], fields["group_id"]) == (
        "unsubscribed",
        rows[0]["id"],
        tenant.project_id,
        done["group"]["groupId"],
    )
    assert (await unsubscribe_service.unsubscribe(api.db, target_of(rows[0])))["changed"] is False
    assert logged() == []


async def test_import_logs_its_counts(container, logged):
    project_id = await _project(container)
    logged()
    rows = [(2, ["a@example.com", "Ann"]), (3, ["not-an-email", "Bob"]), (4, ["c@example.com", "Cy"])]
    report = await imports.import_rows(container.db, project_id, ["email", "firstName"], iter(rows))
    [(action, fields)] = logged()
    assert (report.imported, report.failed) == (2, 1)
    assert (action, fields["project_id"], fields["rows"], fields["imported"], fields["failed"]) == (
        "contacts_imported",
        project_id,
        3,
        2,
        1,
    )


async def test_webhook_attempts_log_failed_then_delivered(api, tenant, logged):
    dispatcher = webhook_service.Dispatcher(api.db, allow_private=True, retry_schedule="5,10")
    try:
        with HttpReceiver(fail_first=1) as receiver:
            created = await api.client.post(
                "/v1/webhooks",
                json={"url": receiver.url(), "events": ["contact.created"]},
                headers=tenant.headers,
            )
            hook_id = created.json()["data"]["webhook"]["id"]
            now = utcnow()
            async with api.db.write() as conn:
                await webhook_service.emit(
                    conn, tenant.project_id, "contact.created", {"contactId": "c1"}, now=now
                )
            logged()
            assert await dispatcher.run_once(now) == 1
            [(action, fields)] = logged()
            assert (action, fields["webhook_id"], fields["project_id"], fields["status_code"]) == (
                "webhook_failed",
                hook_id,
                tenant.project_id,
                500,
            )
            assert (fields["attempt"], fields["final"], fields["event"]) == (1, False, "contact.created")
            assert await dispatcher.run_once(now + timedelta(seconds=6)) == 1
            [(action, fields)] = logged()
            assert (action, fields["webhook_id"], fields["attempt"], fields["status_code"]) == (
                "webhook_delivered",
                hook_id,
                2,
                200,
            )
    finally:
        await dispatcher.close()
