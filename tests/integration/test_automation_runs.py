"""Automation runs on both databases with an injected clock (nothing sleeps): a welcome series
delivered to a real SMTP server in order and exactly once, entries surviving a crash, leases of a
dead runner taken over, concurrent runners, pause/resume, exits, event triggers and branches."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import orjson
import pytest
import sqlalchemy as sa

from sendhouse.automation_runner import AutomationRunner
from sendhouse.domain.times import utcnow
from sendhouse.roles import DUTIES, WORKER
from sendhouse.runtime import running as runner_running
from sendhouse.services.automation_steps import LEASE_SECONDS
from sendhouse.services.imports import import_rows
from sendhouse.store import automation_runs as run_store
from sendhouse.store.schema.audience import contacts
from sendhouse.store.schema.automations import automation_runs
from sendhouse.store.schema.campaigns import messages
from sendhouse.store.schema.webhooks import webhook_deliveries
from tests.support.automation_data import automation, contact, mail_by_email, runs, series, step_log_count
from tests.support.sending_data import container_for, running, wait_for
from tests.support.smtp_sink import SmtpSink

DAY = 24 * 60


async def test_welcome_series_delivered_in_order_exactly_once(api, tenant, settings):
    aid = await automation(api, tenant, steps=series(0, DAY, 2 * DAY))
    people = [f"u{i}@example.com" for i in range(3)]
    for email in people:
        await contact(api, tenant, email, firstName="Ann")
    t0 = utcnow() + timedelta(seconds=1)
    with SmtpSink() as sink:
        container = container_for(settings, smtp_url=sink.url)
        runner = AutomationRunner(container, name="r1")
        try:
            async with running(container, scheduler=False):
                for step, (at, subjects) in enumerate(
                    [(t0, 1), (t0 + timedelta(days=1), 2), (t0 + timedelta(days=3), 3)]
                ):
                    assert await runner.tick(at) > 0
                    assert await runner.tick(at) == 0  # nothing is carried out twice
                    await wait_for(lambda n=subjects: _delivered(sink, n * len(people)))
                    if step < 2:
                        assert await runner.tick(at + timedelta(hours=23)) == 0  # still waiting
        finally:
            await container.close()
    for email in people:
        got = [m for m in sink.messages if m.rcpt_to == [email]]
        assert [_subject(m.data) for m in got] == ["Mail 1", "Mail 2", "Mail 3"]
        assert b"Hi Ann" in got[0].data
        assert b"List-Unsubscribe-Post: List-Unsubscribe=One-Click" in got[0].data  # marketing mail
        assert got[0].data.count(b"/u/") >= 2  # the List-Unsubscribe URL and the footer link
    assert {r["status"] for r in await runs(api.db, aid)} == {"completed"}
    assert await mail_by_email(api.db, aid) == {e: ["Mail 1", "Mail 2", "Mail 3"] for e in people}
    got = (await api.client.get(f"/v1/automations/{aid}", headers=tenant.headers)).json()["data"]
    assert got["analytics"]["totalEntered"] == got["analytics"]["totalCompleted"] == 3
    assert (
        got["analytics"]["steps"]["email_2"]["entered"] == 3
        and got["analytics"]["steps"]["email_2"]["sent"] == 3
    )
    assert got["analytics"]["steps"]["email_3"]["completed"] == 3
    assert got["analytics"]["sent"] == 9


async def _delivered(sink, n: int) -> bool:
    return len(sink.messages) >= n


def _subject(data: bytes) -> str:
    line = next(x for x in data.split(b"\r\n") if x.startswith(b"Subject:"))
    return line.split(b":", 1)[1].strip().decode()


async def test_entry_survives_a_crash_before_any_runner(api, tenant, settings):
    aid = await automation(api, tenant, steps=series(0))
    await contact(api, tenant, "ann@example.com")
    assert len(await runs(api.db, aid)) == 1  # committed with the contact itself
    await api.container.close()  # the process is gone before any runner looked at it
    fresh = container_for(settings)
    try:
        assert await AutomationRunner(fresh).tick(utcnow() + timedelta(seconds=1)) == 2
        assert await mail_by_email(fresh.db, aid) == {"ann@example.com": ["Mail 1"]}
    finally:
        await fresh.close()


async def test_a_failed_change_makes_no_entry(api, tenant):
    aid = await automation(api, tenant, steps=series(0))
    body = {"contacts": [{"email": "ok@example.com"}, {"email": "not-an-email"}]}
    result = (await api.client.post("/v1/contacts/bulk-update", json=body, headers=tenant.headers)).json()[
        "data"
    ]
    assert result["successCount"] == 1 and result["failedCount"] == 1
    assert len(await runs(api.db, aid)) == 1


async def test_a_dead_runners_lease_is_taken_over_once(api, tenant):
    aid = await automation(api, tenant, steps=series(0))
    for i in range(5):
        await contact(api, tenant, f"u{i}@example.com")
    now = utcnow() + timedelta(seconds=1)
    async with api.db.write() as conn:  # runner A claims, then dies (kill -9) without a step
        claimed = await run_store.claim(conn, runner="dead", limit=10, now=now, lease_seconds=LEASE_SECONDS)
    assert len(claimed) == 5
    survivor = AutomationRunner(api.container, name="survivor")
    assert await survivor.tick(now) == 0  # leased: untouched
    later = now + timedelta(seconds=LEASE_SECONDS + 1)
    assert await survivor.tick(later) == 10
    assert await survivor.tick(later) == 0
    assert await mail_by_email(api.db, aid) == {f"u{i}@example.com": ["Mail 1"] for i in range(5)}


async def test_concurrent_runners_never_carry_a_run_out_twice(api, tenant):
    aid = await automation(api, tenant, steps=series(0, 0, 0))
    people = [f"u{i}@example.com" for i in range(40)]
    body = {"contacts": [{"email": e} for e in people]}
    assert (
        await api.client.post("/v1/contacts/bulk-update", json=body, headers=tenant.headers)
    ).status_code == 200
    now = utcnow() + timedelta(seconds=1)
    first, second = await asyncio.gather(_claim(api.db, "a", now), _claim(api.db, "b", now))
    assert not set(first) & set(second) and len(first) + len(second) == 40
    async with api.db.write() as conn:
        await run_store.release(conn, first + second, "a", now)
        await run_store.release(conn, second, "b", now)
    runners = [AutomationRunner(api.container, name=f"r{i}", batch=7) for i in range(3)]
    done = await asyncio.gather(*(r.tick(now) for r in runners))
    assert sum(done) == 40 * 6 == await step_log_count(api.db, aid)
    mail = await mail_by_email(api.db, aid)
    assert mail == {e: ["Mail 1", "Mail 2", "Mail 3"] for e in people}
    assert {r["status"] for r in await runs(api.db, aid)} == {"completed"}


async def _claim(db, name: str, now) -> list[str]:
    async with db.write() as conn:
        claimed = await run_store.claim(conn, runner=name, limit=25, now=now, lease_seconds=LEASE_SECONDS)
        await asyncio.sleep(0)  # the other claim runs while this transaction is open
        return [r["id"] for r in claimed]


async def test_pause_holds_runs_and_resume_continues(api, tenant):
    aid = await automation(api, tenant, steps=series(0, DAY))
    await contact(api, tenant, "ann@example.com")
    runner, now = AutomationRunner(api.container), utcnow() + timedelta(seconds=1)
    assert await runner.tick(now) == 3
    await api.client.post(f"/v1/automations/{aid}/pause", headers=tenant.headers)
    await contact(api, tenant, "late@example.com")  # no entry while paused
    later = now + timedelta(days=2)
    assert await runner.tick(later) == 0
    assert await mail_by_email(api.db, aid) == {"ann@example.com": ["Mail 1"]}
    await api.client.post(f"/v1/automations/{aid}/resume", headers=tenant.headers)
    assert await runner.tick(later) == 1
    assert await mail_by_email(api.db, aid) == {"ann@example.com": ["Mail 1", "Mail 2"]}
    assert len(await runs(api.db, aid)) == 1


async def test_unsubscribed_and_deleted_contacts_exit(api, tenant):
    aid = await automation(api, tenant, steps=series(0, DAY))
    ann = await contact(api, tenant, "ann@example.com")
    await contact(api, tenant, "bob@example.com")
    await contact(api, tenant, "cat@example.com")
    runner, now = AutomationRunner(api.container), utcnow() + timedelta(seconds=1)
    await runner.tick(now)
    suppressed = await api.client.post(
        "/v1/suppression-groups/emails/suppress",
        headers=tenant.headers,
        json={"emails": ["bob@example.com"], "isGlobal": True},
    )
    assert suppressed.status_code in (200, 201), suppressed.text
    await api.client.delete(f"/v1/contacts/{ann}", headers=tenant.headers)
    await runner.tick(now + timedelta(days=1, seconds=1))
    reasons = {r["contact_id"]: (r["status"], r["exit_reason"]) for r in await runs(api.db, aid)}
    assert sorted(reasons.values()) == [
        ("completed", None),
        ("exited", "contact_deleted"),
        ("exited", "unsubscribed"),
    ]
    assert {r["step_id"] for r in await runs(api.db, aid) if r["status"] == "exited"} == {"email_2"}
    mail = await mail_by_email(api.db, aid)
    assert mail == {
        "ann@example.com": ["Mail 1"],
        "bob@example.com": ["Mail 1"],
        "cat@example.com": ["Mail 1", "Mail 2"],
    }


async def test_removed_steps_exit_their_runs(api, tenant):
    aid = await automation(api, tenant, steps=series(0, DAY))
    await contact(api, tenant, "ann@example.com")
    runner, now = AutomationRunner(api.container), utcnow() + timedelta(seconds=1)
    await runner.tick(now)  # ann waits on wait_2
    await api.client.post(f"/v1/automations/{aid}/pause", headers=tenant.headers)
    await api.client.patch(
        f"/v1/automations/{aid}", json={"steps": series(0), "active": True}, headers=tenant.headers
    )
    [run] = await runs(api.db, aid)
    assert (run["status"], run["exit_reason"]) == ("exited", "step_removed")


EVENT = {
    "eventName": "order_placed",
    "properties": [{"propertyName": "plan", "type": "string"}, {"propertyName": "total", "type": "number"}],
}


def _branching() -> list[dict]:
    pro = {
        "logicalOperator": "AND",
        "groups": [
            {"field": "event.properties.plan", "fieldType": "string", "operator": "equals", "value": "pro"}
        ],
    }
    big = {
        "logicalOperator": "AND",
        "groups": [
            {
                "field": "event.properties.total",
                "fieldType": "number",
                "operator": "greater_than",
                "value": 100,
            }
        ],
    }
    email = {"htmlTemplate": "<p>{{event.properties.plan}}</p>", "senderEmail": "team@example.com"}
    return [
        {"type": "wait", "stepId": "w0", "delay": {"value": 0, "unit": "mins"}, "nextStepId": "split"},
        {
            "type": "branch",
            "stepId": "split",
            "branches": [
                {
                    "branchId": "pro",
                    "triggerType": "event_property",
                    "filterCriteria": pro,
                    "nextStepId": "w_pro",
                },
                {
                    "branchId": "big",
                    "triggerType": "event_property",
                    "filterCriteria": big,
                    "nextStepId": "w_big",
                },
            ],
            "nextStepId": "w_rest",
        },
        {"type": "wait", "stepId": "w_pro", "delay": {"value": 0, "unit": "mins"}, "nextStepId": "e_pro"},
        {"type": "email", "stepId": "e_pro", "email": {**email, "subject": "Pro"}},
        {"type": "wait", "stepId": "w_big", "delay": {"value": 0, "unit": "mins"}, "nextStepId": "e_big"},
        {"type": "email", "stepId": "e_big", "email": {**email, "subject": "Big"}},
        {"type": "wait", "stepId": "w_rest", "delay": {"value": 0, "unit": "mins"}, "nextStepId": "e_rest"},
        {"type": "email", "stepId": "e_rest", "email": {**email, "subject": "Rest"}},
    ]


async def test_event_trigger_with_a_branch_on_an_event_property(api, tenant):
    await api.client.post("/v1/events", json=EVENT, headers=tenant.headers)
    aid = await automation(
        api, tenant, steps=_branching(), entryCriteria={"type": "event_trigger", "eventName": "order_placed"}
    )
    for email in ("ann@example.com", "bob@example.com", "cat@example.com"):
        await contact(api, tenant, email)
    assert await runs(api.db, aid) == []  # creating contacts does not enter an event automation
    sends = [
        ("ann@example.com", {"plan": "pro", "total": 500}),
        ("bob@example.com", {"plan": "free", "total": 500}),
        ("cat@example.com", {"plan": "free", "total": "5"}),
    ]
    for email, props in sends:
        response = await api.client.post(
            "/v1/events/send",
            headers=tenant.headers,
            json={"eventName": "order_placed", "email": email, "eventProperties": props},
        )
        assert response.status_code == 201
    runner, now = AutomationRunner(api.container), utcnow() + timedelta(seconds=1)
    await runner.tick(now)
    assert await mail_by_email(api.db, aid) == {
        "ann@example.com": ["Pro"],
        "bob@example.com": ["Big"],
        "cat@example.com": ["Rest"],
    }
    await api.client.post(
        "/v1/events/send",
        headers=tenant.headers,
        json={"eventName": "order_placed", "email": "cat@example.com", "eventProperties": {"plan": "pro"}},
    )
    await runner.tick(now)  # a new event enters again once the last run is over
    assert (await mail_by_email(api.db, aid))["cat@example.com"] == ["Rest", "Pro"]


async def test_event_entry_filter(api, tenant):
    await api.client.post("/v1/events", json=EVENT, headers=tenant.headers)
    pro = {
        "groups": [
            {"field": "event.properties.plan", "fieldType": "string", "operator": "equals", "value": "pro"}
        ]
    }
    aid = await automation(
        api,
        tenant,
        steps=series(0),
        entryCriteria={"type": "event_trigger", "eventName": "order_placed", "filterCriteria": pro},
    )
    await contact(api, tenant, "ann@example.com")
    for plan in ("free", "pro"):
        await api.client.post(
            "/v1/events/send",
            headers=tenant.headers,
            json={"eventName": "order_placed", "email": "ann@example.com", "eventProperties": {"plan": plan}},
        )
    [run] = await runs(api.db, aid)
    assert run["event"] == {"name": "order_placed", "properties": {"plan": "pro"}}


async def test_run_workflow_false_and_list_and_property_triggers(api, tenant):
    made = await api.client.post("/v1/contact-lists", json={"name": "VIP"}, headers=tenant.headers)
    list_id = made.json()["data"]["id"]
    created = await automation(api, tenant, steps=series(0))
    joined = await automation(
        api,
        tenant,
        steps=series(0),
        entryCriteria={"type": "contact_added_to_list", "contactListId": list_id},
    )
    plan = {"groups": [{"field": "plan", "fieldType": "string", "operator": "equals", "value": "pro"}]}
    upgraded = await automation(
        api,
        tenant,
        steps=series(0),
        entryCriteria={"type": "contact_property_matches_with", "filterCriteria": plan},
    )
    body = {"contacts": [{"email": "quiet@example.com"}], "runWorkflow": False}
    await api.client.post("/v1/contacts/bulk-update", json=body, headers=tenant.headers)
    assert await runs(api.db, created) == []
    await contact(api, tenant, "ann@example.com", customFields={})
    await api.client.post(
        "/v1/contact-lists/contacts/bulk-add",
        headers=tenant.headers,
        json={"contactListId": list_id, "emails": ["ann@example.com", "new@example.com"]},
    )
    await api.client.post(
        "/v1/contacts/email",
        json={"email": "ann@example.com", "customFields": {"plan": "pro"}},
        headers=tenant.headers,
    )
    await api.client.post(
        "/v1/contacts/email",
        json={"email": "ann@example.com", "customFields": {"plan": "pro"}},
        headers=tenant.headers,
    )  # no change: no second entry
    emails = await _emails_of_runs(api.db, tenant.project_id)
    assert emails[created] == ["ann@example.com", "new@example.com"]
    assert emails[joined] == ["ann@example.com", "new@example.com"]
    assert emails[upgraded] == ["ann@example.com"]


async def _emails_of_runs(db, project_id: str) -> dict[str, list[str]]:
    r = automation_runs
    query = (
        sa.select(r.c.automation_id, contacts.c.email)
        .join(contacts, contacts.c.id == r.c.contact_id)
        .where(r.c.project_id == project_id)
        .order_by(contacts.c.email)
    )
    found: dict[str, list[str]] = {}
    async with db.read() as conn:
        for automation_id, email in await conn.execute(query):
            found.setdefault(automation_id, []).append(email)
    return found


async def test_csv_import_enters_new_contacts(api, tenant):
    aid = await automation(api, tenant, steps=series(0))
    await contact(api, tenant, "old@example.com")
    rows = [(i + 2, [f"u{i}@example.com"]) for i in range(30)] + [(40, ["old@example.com"])]
    report = await import_rows(api.db, tenant.project_id, ["email"], iter(rows), chunk_size=7)
    assert report.imported == 31
    assert len(await runs(api.db, aid)) == 31  # 30 new contacts and old (created after activation) once
    await AutomationRunner(api.container).tick(utcnow() + timedelta(seconds=1))
    async with api.db.read() as conn:
        total = (await conn.execute(sa.select(sa.func.count()).select_from(messages))).scalar_one()
    assert total == 31


async def test_automation_mail_webhooks_carry_the_automation_id(api, tenant, settings):
    aid = await automation(api, tenant, steps=series(0))
    hook = await api.client.post(
        "/v1/webhooks",
        headers=tenant.headers,
        json={"url": "https://hooks.example.com/a", "events": ["email.sent"]},
    )
    assert hook.status_code in (200, 201), hook.text
    await contact(api, tenant, "ann@example.com")
    await AutomationRunner(api.container).tick(utcnow() + timedelta(seconds=1))
    container = container_for(settings)  # the capture transport
    try:
        async with running(container, scheduler=False):
            await wait_for(lambda: _webhook_payloads(container.db))
    finally:
        await container.close()
    [payload] = await _webhook_payloads(api.db)
    assert payload["type"] == "email.sent" and payload["data"]["workflowAutomationId"] == aid
    assert payload["data"]["to"]["email"] == "ann@example.com"


async def _webhook_payloads(db) -> list[dict]:
    async with db.read() as conn:
        rows = (await conn.execute(sa.select(webhook_deliveries.c.payload))).scalars().all()
    return [orjson.loads(r) for r in rows]


async def test_the_runner_loop_runs_until_stopped(api, tenant):
    aid = await automation(api, tenant, steps=series(0))
    await contact(api, tenant, "ann@example.com")
    runner = AutomationRunner(api.container, interval=0.01)
    async with runner_running(runner, grace=10):
        await wait_for(lambda: mail_by_email(api.db, aid))
    assert runner.stopping.is_set()
    assert ("automation runs", WORKER) in [(duty.name, duty.role) for duty in DUTIES]


async def test_template_step_with_the_template_sender(api, tenant):
    sender = await api.client.post(
        "/v1/senders", headers=tenant.headers, json={"email": "hello@example.com", "name": "Hello Team"}
    )
    assert sender.status_code in (200, 201), sender.text
    sender_id = sender.json()["data"]["sender"]["id"]
    made = await api.client.post(
        "/v1/templates",
        headers=tenant.headers,
        json={
            "templateName": "Welcome",
            "subject": "From the template",
            "emailTemplate": "<p>T {{first_name}}</p>",
            "templateType": "automation",
            "senderId": sender_id,
        },
    )
    assert made.status_code in (200, 201), made.text
    template_id = made.json()["data"]["templateId"]
    steps = [series(0)[0], {"type": "email", "stepId": "e", "email": {"templateId": template_id}}]
    aid = await automation(api, tenant, steps=steps)
    got = (await api.client.get(f"/v1/automations/{aid}", headers=tenant.headers)).json()["data"]
    assert got["steps"][1]["email"] == {
        "templateId": template_id,
        "templateName": "Welcome",
        "templateType": "automation",
        "subject": "From the template",
    }
    await contact(api, tenant, "ann@example.com")
    await AutomationRunner(api.container).tick(utcnow() + timedelta(seconds=1))
    assert await mail_by_email(api.db, aid) == {"ann@example.com": ["From the template"]}


async def test_property_change_from_to_and_exit_when_no_longer_matching(api, tenant):
    vip = {"groups": [{"field": "plan", "fieldType": "string", "operator": "equals", "value": "pro"}]}
    changed = await automation(
        api,
        tenant,
        steps=series(0),
        entryCriteria={
            "type": "contact_property_changes_from_to",
            "propertyName": "plan",
            "fromValue": "free",
            "toValue": "pro",
        },
    )
    matching = await automation(
        api,
        tenant,
        steps=series(0, DAY),
        exitCriteria={"type": "entry_criteria_no_longer_met"},
        entryCriteria={"type": "contact_property_matches_with", "filterCriteria": vip},
    )

    async def upsert(email, plan):
        await api.client.post(
            "/v1/contacts/email",
            json={"email": email, "customFields": {"plan": plan}},
            headers=tenant.headers,
        )

    await upsert("ann@example.com", "free")  # a first value is not a change
    await upsert("bob@example.com", "trial")
    await upsert("ann@example.com", "pro")  # free -> pro
    await upsert("bob@example.com", "pro")  # trial -> pro: not from free
    assert len(await runs(api.db, changed)) == 1
    runner, now = AutomationRunner(api.container), utcnow() + timedelta(seconds=1)
    await runner.tick(now)
    await upsert("bob@example.com", "free")  # bob leaves the filter before his second email
    await runner.tick(now + timedelta(days=1, seconds=1))
    assert await mail_by_email(api.db, changed) == {"ann@example.com": ["Mail 1"]}
    assert await mail_by_email(api.db, matching) == {
        "ann@example.com": ["Mail 1", "Mail 2"],
        "bob@example.com": ["Mail 1"],
    }
    ends = sorted((r["status"], r["exit_reason"]) for r in await runs(api.db, matching))
    assert ends == [("completed", None), ("exited", "entry_criteria_no_longer_met")]


async def test_all_branch_steps_guard_diverts_to_the_merge_step(api, tenant):
    pro = {"groups": [{"field": "plan", "fieldType": "string", "operator": "equals", "value": "pro"}]}
    inside = {"parentBranchStepId": "split", "parentBranchId": "pro"}
    email = {"htmlTemplate": "<p>x</p>", "senderEmail": "team@example.com"}
    steps = [
        {"type": "wait", "stepId": "w0", "delay": {"value": 0, "unit": "mins"}, "nextStepId": "split"},
        {
            "type": "branch",
            "stepId": "split",
            "branches": [
                {
                    "branchId": "pro",
                    "appliesTo": "all_branch_steps",
                    "filterCriteria": pro,
                    "nextStepId": "w_pro",
                    "mergeStepId": "w_end",
                }
            ],
            "nextStepId": "w_end",
        },
        {
            "type": "wait",
            "stepId": "w_pro",
            "delay": {"value": 1, "unit": "days"},
            "nextStepId": "e_pro",
            **inside,
        },
        {
            "type": "email",
            "stepId": "e_pro",
            "email": {**email, "subject": "Pro"},
            "nextStepId": "w_end",
            **inside,
        },
        {"type": "wait", "stepId": "w_end", "delay": {"value": 0, "unit": "mins"}, "nextStepId": "e_end"},
        {"type": "email", "stepId": "e_end", "email": {**email, "subject": "End"}},
    ]
    aid = await automation(api, tenant, steps=steps)
    for email_address in ("ann@example.com", "bob@example.com"):
        await contact(api, tenant, email_address, customFields={"plan": "pro"})
    runner, now = AutomationRunner(api.container), utcnow() + timedelta(seconds=1)
    await runner.tick(now)  # both wait a day inside the pro branch
    await api.client.post(
        "/v1/contacts/email",
        json={"email": "bob@example.com", "customFields": {"plan": "free"}},
        headers=tenant.headers,
    )
    await runner.tick(now + timedelta(days=1, seconds=1))
    assert await mail_by_email(api.db, aid) == {"ann@example.com": ["Pro", "End"], "bob@example.com": ["End"]}


async def test_a_failed_bulk_write_keeps_nothing_and_retries_later(api, tenant, monkeypatch):
    aid = await automation(api, tenant, steps=series(0))
    await contact(api, tenant, "ann@example.com")
    now = utcnow() + timedelta(seconds=1)

    async def broken(conn, rows):
        raise RuntimeError("disk full")

    monkeypatch.setattr(run_store, "log_steps", broken)
    with pytest.raises(RuntimeError):
        await AutomationRunner(api.container).tick(now)
    [run] = await runs(api.db, aid)
    assert run["lease_owner"] is None and run["step_id"] == "wait_1" and run["due_at"] > now
    assert await mail_by_email(api.db, aid) == {}
    monkeypatch.undo()
    assert await AutomationRunner(api.container).tick(now) == 0  # not before the retry time
    assert await AutomationRunner(api.container).tick(run["due_at"]) == 2
    assert await mail_by_email(api.db, aid) == {"ann@example.com": ["Mail 1"]}


async def test_a_lease_lost_during_a_pass_rolls_the_pass_back(api, tenant, monkeypatch):
    aid = await automation(api, tenant, steps=series(0))
    for i in range(3):
        await contact(api, tenant, f"u{i}@example.com")
    now = utcnow() + timedelta(seconds=1)
    claim, taken = run_store.claim, []

    async def claim_then_lose_one(conn, **kwargs):  # another runner takes one run over before the pass writes
        claimed = await claim(conn, **kwargs)
        if not claimed or taken:
            return claimed
        taken.append(claimed[0]["id"])
        await conn.execute(
            automation_runs.update().where(automation_runs.c.id == taken[0]).values(lease_owner="other")
        )
        return claimed

    monkeypatch.setattr(run_store, "claim", claim_then_lose_one)
    before = {r["id"]: r for r in await runs(api.db, aid)}
    assert await AutomationRunner(api.container, name="late").tick(now) == 0
    assert await mail_by_email(api.db, aid) == {} and await step_log_count(api.db, aid) == 0
    after = {r["id"]: r for r in await runs(api.db, aid)}
    assert after[taken[0]]["lease_owner"] == "other"
    for run_id in set(after) - {taken[0]}:  # given back as they were: due at once, on the same step
        assert after[run_id]["lease_owner"] is None
        assert (after[run_id]["step_id"], after[run_id]["due_at"]) == (
            before[run_id]["step_id"],
            before[run_id]["due_at"],
        )
    monkeypatch.undo()
    assert await AutomationRunner(api.container, name="next").tick(now) == 4  # the two runs still free
    mail = await mail_by_email(api.db, aid)
    assert len(mail) == 2 and set(map(tuple, mail.values())) == {("Mail 1",)}
