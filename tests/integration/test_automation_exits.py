"""How automation runs end or change course, on both databases with an injected clock: archiving
the automation (DELETE) ends its runs at once, even those due and those a runner holds; a contact
unsubscribing from the automation's own unsubscribe group exits; a contact deleted mid-run exits
before its next step; an active automation cannot be edited, a paused one can, and its runs
continue on the new steps on resume."""

from __future__ import annotations

import email
from datetime import timedelta

from sendhouse.automation_runner import AutomationRunner
from sendhouse.domain.times import utcnow
from sendhouse.services import automations as automation_service
from sendhouse.store import automation_runs as run_store
from tests.integration.test_dashboard_campaign_page import _login
from tests.support.automation_data import EMAIL, automation, contact, mail_by_email, runs, series
from tests.support.feedback_data import suppressed
from tests.support.sending_data import container_for, running, wait_for
from tests.support.smtp_sink import SmtpSink

DAY = 24 * 60


def _ends(found: list[dict]) -> list[tuple]:
    return sorted((r["status"], r["exit_reason"], r["step_id"]) for r in found)


async def test_archiving_ends_runs_even_those_already_due(api, tenant):
    aid = await automation(api, tenant, steps=series(0, DAY, DAY))
    for address in ("ann@example.com", "bob@example.com"):
        await contact(api, tenant, address)
    runner, now = AutomationRunner(api.container), utcnow() + timedelta(seconds=1)
    assert await runner.tick(now) == 6  # Mail 1 each; both wait a day before email_2
    later = now + timedelta(days=5)  # email_2 (and the wait after it) long due
    deleted = await api.client.delete(f"/v1/automations/{aid}", headers=tenant.headers)
    assert deleted.status_code == 200, deleted.text
    assert _ends(await runs(api.db, aid)) == [("exited", "automation_deleted", "email_2")] * 2
    assert await runner.tick(later) == 0
    await contact(api, tenant, "cat@example.com")  # an archived automation enters no one
    assert await runner.tick(later) == 0
    assert len(await runs(api.db, aid)) == 2
    assert await mail_by_email(api.db, aid) == {"ann@example.com": ["Mail 1"], "bob@example.com": ["Mail 1"]}
    gone = await api.client.get(f"/v1/automations/{aid}", headers=tenant.headers)
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "WORKFLOW_NOT_FOUND"


async def test_archiving_while_a_runner_holds_the_runs_sends_nothing(api, tenant, monkeypatch):
    aid = await automation(api, tenant, steps=series(0, 0))
    for i in range(3):
        await contact(api, tenant, f"u{i}@example.com")
    now, claim, archived = utcnow() + timedelta(seconds=1), run_store.claim, []

    async def claim_then_archive(conn, **kwargs):  # DELETE commits right after the runner's claim
        claimed = await claim(conn, **kwargs)
        if claimed and not archived:
            await automation_service.archive(conn, tenant.project_id, aid, kwargs["now"])
            archived.append(len(claimed))
        return claimed

    monkeypatch.setattr(run_store, "claim", claim_then_archive)
    assert await AutomationRunner(api.container).tick(now) == 0  # the pass is rolled back whole
    assert archived == [3]
    monkeypatch.undo()
    assert await AutomationRunner(api.container).tick(now + timedelta(days=1)) == 0
    assert await mail_by_email(api.db, aid) == {}
    found = await runs(api.db, aid)
    assert _ends(found) == [("exited", "automation_deleted", "wait_1")] * 3
    assert {r["lease_owner"] for r in found} == {None}


async def _delivered(sink: SmtpSink, n: int) -> bool:
    return len(sink.messages) >= n


async def test_unsubscribing_from_the_automations_group_exits_the_run(api, tenant, settings):
    made = await api.client.post(
        "/v1/suppression-groups", json={"name": "Onboarding"}, headers=tenant.headers
    )
    group = made.json()["data"]["groupId"]
    other = await api.client.post("/v1/suppression-groups", json={"name": "News"}, headers=tenant.headers)
    aid = await automation(api, tenant, steps=series(0, DAY), unsubscribeGroupId=group)
    people = ["ann@example.com", "bob@example.com", "cat@example.com"]
    ids = {address: await contact(api, tenant, address) for address in people}
    runner, now = AutomationRunner(api.container), utcnow() + timedelta(seconds=1)
    await runner.tick(now)
    with SmtpSink() as sink:
        container = container_for(settings, smtp_url=sink.url)
        try:
            async with running(container, scheduler=False):
                await wait_for(lambda: _delivered(sink, 3))
        finally:
            await container.close()
    [ann_mail] = [m.data for m in sink.messages if m.rcpt_to == ["ann@example.com"]]
    link = email.message_from_bytes(ann_mail)["List-Unsubscribe"].split(">")[0].removeprefix("<")
    done = await api.client.post(
        link.removeprefix("http://sendhouse.test"), data={"List-Unsubscribe": "One-Click"}
    )
    assert done.status_code == 200, done.text
    await api.client.post(  # bob leaves another group: the automation's mail still goes
        "/v1/suppression-groups/emails/suppress",
        headers=tenant.headers,
        json={"emails": ["bob@example.com"], "groupId": other.json()["data"]["groupId"]},
    )
    assert ("ann@example.com", group, "UNSUBSCRIBE") in await suppressed(api.db, tenant.project_id)
    token = await _login(api, tenant)  # cat leaves the automation's group from her dashboard page
    await api.client.post(
        f"/app/contacts/{ids['cat@example.com']}/unsubscribe", data={"csrf_token": token, "group": group}
    )
    await runner.tick(now + timedelta(days=1, seconds=1))
    ends = {r["contact_id"]: (r["status"], r["exit_reason"]) for r in await runs(api.db, aid)}
    assert ends == {
        ids["ann@example.com"]: ("exited", "unsubscribed"),
        ids["bob@example.com"]: ("completed", None),
        ids["cat@example.com"]: ("exited", "unsubscribed"),
    }
    assert await mail_by_email(api.db, aid) == {
        "ann@example.com": ["Mail 1"],
        "bob@example.com": ["Mail 1", "Mail 2"],
        "cat@example.com": ["Mail 1"],
    }


async def test_a_contact_deleted_mid_run_exits_before_its_next_step(api, tenant):
    aid = await automation(api, tenant, steps=series(0, DAY))
    ann = await contact(api, tenant, "ann@example.com")
    await contact(api, tenant, "bob@example.com")
    runner, now = AutomationRunner(api.container), utcnow() + timedelta(seconds=1)
    await runner.tick(now)
    token = await _login(api, tenant)
    deleted = await api.client.post(f"/app/contacts/{ann}/delete", data={"csrf_token": token})
    assert deleted.status_code == 303
    figures = await _step_figures(api, tenant, aid)
    assert (figures["email_2"]["active"], figures["email_2"]["exited"]) == (2, 0)  # until it is due
    await runner.tick(now + timedelta(days=1, seconds=1))
    assert _ends(await runs(api.db, aid)) == [
        ("completed", None, "email_2"),
        ("exited", "contact_deleted", "email_2"),
    ]
    figures = await _step_figures(api, tenant, aid)
    assert (figures["email_2"]["exited"], figures["email_2"]["completed"], figures["email_2"]["sent"]) == (
        1,
        1,
        0,
    )
    assert await mail_by_email(api.db, aid) == {
        "ann@example.com": ["Mail 1"],
        "bob@example.com": ["Mail 1", "Mail 2"],
    }
    again = await contact(api, tenant, "ann@example.com")  # a new contact: created after activation
    assert again != ann
    await runner.tick(now + timedelta(days=1, seconds=2))
    assert (await mail_by_email(api.db, aid))["ann@example.com"] == ["Mail 1", "Mail 1"]


async def _step_figures(api, tenant, aid: str) -> dict:
    got = await api.client.get(f"/v1/automations/{aid}", headers=tenant.headers)
    return got.json()["data"]["analytics"]["steps"]


def _renamed(steps: list[dict], step_id: str, subject: str) -> list[dict]:
    return [{**s, "email": {**EMAIL, "subject": subject}} if s["stepId"] == step_id else s for s in steps]


async def test_an_active_automation_is_edited_only_once_paused(api, tenant):
    aid = await automation(api, tenant, steps=series(0, DAY))
    url = f"/v1/automations/{aid}"
    await contact(api, tenant, "ann@example.com")
    runner, now = AutomationRunner(api.container), utcnow() + timedelta(seconds=1)
    await runner.tick(now)  # ann waits on email_2
    refused = await api.client.patch(
        url, json={"steps": _renamed(series(0, DAY), "email_2", "Changed")}, headers=tenant.headers
    )
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "CANNOT_EDIT_AUTOMATION"
    steps = (await api.client.get(url, headers=tenant.headers)).json()["data"]["steps"]
    assert [s["email"]["subject"] for s in steps if s["type"] == "email"] == ["Mail 1", "Mail 2"]
    await api.client.post(f"{url}/pause", headers=tenant.headers)
    edited = await api.client.patch(
        url, json={"steps": _renamed(series(0, DAY, DAY), "email_2", "Changed")}, headers=tenant.headers
    )
    assert edited.status_code == 200 and edited.json()["data"]["status"] == "paused"
    assert await runner.tick(now + timedelta(days=5)) == 0  # still paused: the run is held
    [run] = await runs(api.db, aid)
    assert (run["status"], run["step_id"]) == ("active", "email_2")
    await api.client.post(f"{url}/resume", headers=tenant.headers)
    await runner.tick(now + timedelta(days=5))  # continues where it stood, on the new steps
    await runner.tick(now + timedelta(days=7))
    assert await mail_by_email(api.db, aid) == {"ann@example.com": ["Mail 1", "Changed", "Mail 3"]}
    [run] = await runs(api.db, aid)
    assert (run["status"], run["step_id"]) == ("completed", "email_3")
