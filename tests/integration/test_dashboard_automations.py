"""Dashboard automation and event pages over the ASGI app on both databases: list with counts,
create from the form (bad steps shown, nothing saved), activate / pause / resume, per-step
figures, the events page; login, CSRF and another project's ids (404); contacts added or edited
on the contact pages entering contact_created, list and property automations."""

from __future__ import annotations

import json
from datetime import timedelta

import sqlalchemy as sa

from sendhouse.automation_runner import AutomationRunner
from sendhouse.domain.times import utcnow
from sendhouse.store.schema.audience import contacts
from tests.integration.test_dashboard_pages import _login
from tests.support.automation_data import automation, contact, mail_by_email, runs, series


def _form(token: str, **extra) -> dict:
    return {
        "csrf_token": token,
        "name": "Welcome",
        "triggerType": "contact_created",
        "steps": json.dumps(series(0)),
        **extra,
    }


async def test_pages_need_a_login_and_the_csrf_token(api, tenant):
    for path in ("/app/automations", "/app/automations/new", "/app/events"):
        assert (await api.client.get(path)).headers["location"] == "/app/login"
    await _login(api, tenant)
    refused = await api.client.post("/app/automations", data=_form("forged"))
    assert refused.status_code == 403
    assert "Welcome" not in (await api.client.get("/app/automations")).text


async def test_create_activate_pause_resume_from_the_pages(api, tenant):
    token = await _login(api, tenant)
    bad = await api.client.post("/app/automations", data=_form(token, steps="[{"))
    assert bad.status_code == 400 and "not valid JSON" in bad.text
    wrong = await api.client.post("/app/automations", data=_form(token, steps=json.dumps(series(0)[1:])))
    assert wrong.status_code == 400 and "wait" in wrong.text
    assert "No automation yet" in (await api.client.get("/app/automations")).text
    made = await api.client.post("/app/automations", data=_form(token))
    assert made.status_code == 303
    path = made.headers["location"].removeprefix("/app")
    page = (await api.client.get(f"/app{path}")).text
    assert "draft" in page and "Mail 1" in page and "Activate" in page
    for action, status in (("activate", "active"), ("pause", "paused"), ("resume", "active")):
        done = await api.client.post(f"/app{path}/{action}", data={"csrf_token": token})
        assert done.status_code == 303, action
        assert f"status {status}" in (await api.client.get(f"/app{path}")).text
    again = await api.client.post(f"/app{path}/resume", data={"csrf_token": token})
    assert again.status_code == 303
    assert "Only paused workflows can be resumed" in (await api.client.get(f"/app{path}")).text


async def test_list_and_step_figures(api, tenant):
    aid = await automation(api, tenant, steps=series(0, 60))
    await contact(api, tenant, "ann@example.com")
    await contact(api, tenant, "bob@example.com")
    await AutomationRunner(api.container).tick(utcnow() + timedelta(seconds=1))
    await _login(api, tenant)
    listing = (await api.client.get("/app/automations")).text
    assert f'data-automation="{aid}"' in listing and "a contact is created" in listing
    assert "contact_created" not in listing.replace('value="contact_created"', "")
    page = (await api.client.get(f"/app/automations/{aid}")).text
    assert page.count("entered 2 · next here 0") == 3  # wait_1, email_1, wait_2: both went through
    assert "entered 0 · next here 2" in page  # email_2: due for both in an hour
    assert "Pause the automation to edit it" in page


async def test_events_page_and_other_projects(api, tenant, other_tenant):
    await api.client.post(
        "/v1/events",
        headers=tenant.headers,
        json={"eventName": "paid", "properties": [{"propertyName": "total", "type": "number"}]},
    )
    cid = await contact(api, tenant, "ann@example.com")
    await api.client.post(
        "/v1/events/send",
        headers=tenant.headers,
        json={"eventName": "paid", "contactId": cid, "eventProperties": {"total": 12}},
    )
    theirs = await automation(api, other_tenant, steps=series(0))
    token = await _login(api, tenant)
    page = (await api.client.get("/app/events")).text
    assert 'data-event="paid"' in page and "total (number)" in page and "total=12" in page
    assert (await api.client.get(f"/app/automations/{theirs}")).status_code == 404
    assert (
        await api.client.post(f"/app/automations/{theirs}/pause", data={"csrf_token": token})
    ).status_code == 404
    assert (await api.client.post(f"/app/automations/{theirs}", data=_form(token))).status_code == 404


async def _entered(api, aid: str) -> list[str]:
    """The addresses of the contacts with a run in the automation."""
    found = await runs(api.db, aid)
    async with api.db.read() as conn:
        query = sa.select(contacts.c.id, contacts.c.email)
        emails = dict((await conn.execute(query)).all())
    return sorted(emails[r["contact_id"]] for r in found)


async def test_contacts_added_or_changed_from_the_pages_enter_automations(api, tenant):
    token = await _login(api, tenant)
    await api.client.post("/app/properties", data={"csrf_token": token, "name": "plan", "type": "string"})
    vip = (await api.client.post("/v1/contact-lists", json={"name": "VIP"}, headers=tenant.headers)).json()
    vip_id = vip["data"]["id"]
    old = await contact(api, tenant, "old@example.com", listIds=[vip_id])  # in VIP before any automation
    created = await automation(api, tenant, steps=series(0))
    joined = await automation(
        api, tenant, steps=series(0), entryCriteria={"type": "contact_added_to_list", "contactListId": vip_id}
    )
    pro = {"groups": [{"field": "plan", "fieldType": "string", "operator": "equals", "value": "pro"}]}
    upgraded = await automation(
        api,
        tenant,
        steps=series(0),
        entryCriteria={"type": "contact_property_matches_with", "filterCriteria": pro},
    )
    for fields in ({"email": "new@example.com", "listIds": vip_id}, {"email": "solo@example.com"}):
        made = await api.client.post("/app/contacts/new", data={"csrf_token": token, **fields})
        assert made.status_code == 303, made.text
    solo = made.headers["location"].rsplit("/", 1)[1]
    edits = [
        (solo, {"listIds": vip_id, "cf_plan": "pro"}),  # joins VIP and becomes pro
        (old, {"listIds": vip_id}),  # a stale form: already in VIP, so not "added"
    ]
    for contact_id, fields in edits:
        edited = await api.client.post(
            f"/app/contacts/{contact_id}/edit", data={"csrf_token": token, **fields}
        )
        assert edited.status_code == 303, edited.text
    assert await _entered(api, created) == ["new@example.com", "solo@example.com"]
    assert await _entered(api, joined) == ["new@example.com", "solo@example.com"]
    assert await _entered(api, upgraded) == ["solo@example.com"]
    await AutomationRunner(api.container).tick(utcnow() + timedelta(seconds=1))
    assert await mail_by_email(api.db, joined) == {
        "new@example.com": ["Mail 1"],
        "solo@example.com": ["Mail 1"],
    }
