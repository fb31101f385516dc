"""Dashboard pages over the ASGI app on both databases: login required, CSRF refused, the
services' errors shown in the page, another project's ids answered 404, keys shown once."""

from __future__ import annotations

import re

import pytest

from sendhouse.errors import Conflict, InvalidInput
from sendhouse.services import users as user_service

PASSWORD = "correct horse battery"


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html)[1]


async def _login(api, tenant, email="ada@shop.example") -> str:
    await user_service.create_user(api.db, email, password=PASSWORD, project_id=tenant.project_id)
    page = await api.client.get("/app/login")
    done = await api.client.post(
        "/app/login", data={"email": email, "password": PASSWORD, "csrf_token": _csrf(page.text)}
    )
    assert done.status_code == 303 and done.headers["location"] == "/app/"
    return _csrf((await api.client.get("/app/campaigns")).text)


async def test_pages_need_a_login(api):
    for path in ("/app/", "/app/campaigns", "/app/contacts", "/app/keys", "/app/outbox"):
        answer = await api.client.get(path)
        assert answer.status_code == 303 and answer.headers["location"] == "/app/login"
    assert (await api.client.get("/")).headers["location"] == "/app/"


async def test_wrong_password_and_unknown_user_get_the_same_answer(api, tenant):
    await user_service.create_user(
        api.db, "ada@shop.example", password=PASSWORD, project_id=tenant.project_id
    )
    token = _csrf((await api.client.get("/app/login")).text)
    for email, password in (("ada@shop.example", "nope nope nope"), ("bob@shop.example", PASSWORD)):
        answer = await api.client.post(
            "/app/login", data={"email": email, "password": password, "csrf_token": token}
        )
        assert answer.status_code == 401 and "Wrong email or password" in answer.text
    assert (await api.client.get("/app/campaigns")).status_code == 303


async def test_forms_without_the_csrf_token_are_refused(api, tenant):
    await _login(api, tenant)
    for data in ({"name": "Leak"}, {"name": "Leak", "csrf_token": "forged"}):
        answer = await api.client.post("/app/keys", data=data)
        assert answer.status_code == 403 and "security token" in answer.text
    assert (await api.client.get("/app/keys")).text.count("data-key=") == 1  # only the tenant's own key
    no_session = await api.client.post(
        "/app/login", data={"email": "x@y.example", "password": "x"}, cookies={}
    )
    assert no_session.status_code == 403


async def test_service_errors_are_shown_in_the_form(api, tenant):
    token = await _login(api, tenant)
    answer = await api.client.post(
        "/app/campaigns/new", data={"name": "", "subject": "Hi", "toLists": "nope", "csrf_token": token}
    )
    assert answer.status_code == 400 and 'role="alert"' in answer.text and "name" in answer.text
    listed = await api.client.get("/app/campaigns")
    assert "No campaign yet" in listed.text


async def test_another_projects_ids_are_not_found(api, tenant, other_tenant):
    theirs = await api.client.post(
        "/v1/campaigns",
        headers=other_tenant.headers,
        json={"name": "Theirs", "subject": "S", "htmlTemplate": "<p>x</p>"},
    )
    campaign_id = theirs.json()["data"]["id"]
    token = await _login(api, tenant)
    assert (await api.client.get(f"/app/campaigns/{campaign_id}")).status_code == 404
    aborted = await api.client.post(f"/app/campaigns/{campaign_id}/abort", data={"csrf_token": token})
    assert aborted.status_code == 404
    switched = await api.client.post(
        "/app/switch", data={"project_id": other_tenant.project_id, "csrf_token": token}
    )
    assert switched.status_code == 404
    mine = await api.client.get(f"/v1/campaigns/{campaign_id}", headers=other_tenant.headers)
    assert mine.json()["data"]["status"] == "draft"


async def test_wrong_state_is_a_message_and_changes_nothing(api, tenant):
    token = await _login(api, tenant)
    made = await api.client.post(
        "/app/campaigns/new",
        data={"name": "Draft", "subject": "S", "htmlTemplate": "<p>x</p>", "csrf_token": token},
    )
    campaign_id = made.headers["location"].rsplit("/", 1)[1]
    paused = await api.client.post(f"/app/campaigns/{campaign_id}/pause", data={"csrf_token": token})
    assert paused.status_code == 303
    page = await api.client.get(f"/app/campaigns/{campaign_id}")
    assert "can be paused" in page.text and 'id="campaign-status">draft<' in page.text


async def test_api_key_is_shown_once_and_revoked(api, tenant):
    token = await _login(api, tenant)
    created = await api.client.post("/app/keys", data={"name": "ci", "csrf_token": token})
    secret = re.search(r'id="new-key">(AS_[^<]+)<', created.text)[1]
    assert (
        await api.client.get("/v1/contact-lists", headers={"Authorization": f"Bearer {secret}"})
    ).status_code == 200
    assert secret not in (await api.client.get("/app/keys")).text
    key_id = re.findall(r"/app/keys/([0-9a-f]{24})/revoke", created.text)[-1]
    await api.client.post(f"/app/keys/{key_id}/revoke", data={"csrf_token": token})
    assert (
        await api.client.get("/v1/contact-lists", headers={"Authorization": f"Bearer {secret}"})
    ).status_code == 401


async def test_segment_count_validates_like_the_api(api, tenant):
    token = await _login(api, tenant)
    for email in ("a@vip.example", "b@vip.example", "c@other.example"):
        await api.client.post("/v1/contacts", headers=tenant.headers, json={"email": email})
    form = {
        "csrf_token": token,
        "logicalOperator": "AND",
        "field_0": "email",
        "fieldType_0": "string",
        "operator_0": "ends_with",
        "value_0": "@vip.example",
    }
    assert 'data-count="2"' in (await api.client.post("/app/segments/count", data=form)).text
    known = await api.client.post("/app/segments/count", data={**form, "fieldType_0": "number"})
    assert 'data-count="2"' in known.text  # a built-in field keeps its own type
    bad = await api.client.post("/app/segments/count", data={**form, "operator_0": "greater_than"})
    assert "for a string field must be one of" in bad.text and "data-count" not in bad.text


async def test_users_service_rules(api, tenant):
    with pytest.raises(InvalidInput):
        await user_service.create_user(api.db, "not an email", password=PASSWORD)
    with pytest.raises(InvalidInput):
        await user_service.create_user(api.db, "short@shop.example", password="x" * 9)
    user, _ = await user_service.create_user(api.db, "Max@Shop.example", password="x" * 10)
    assert user["email"] == "max@shop.example"
    with pytest.raises(Conflict):
        await user_service.create_user(api.db, "max@shop.example")
    assert await user_service.user_projects(api.db, user["id"]) == []
