"""The /v1/webhooks management API on both databases: shapes, auth, isolation, limits, immutability."""

from __future__ import annotations

import pytest

from sendhouse.domain.webhooks import EVENTS

URL = "https://hooks.example.com/in"
MISSING = "0" * 24


async def create(api, tenant, **body):
    payload = {"url": URL, "events": ["email.sent"], **body}
    response = await api.client.post("/v1/webhooks", json=payload, headers=tenant.headers)
    assert response.status_code == 201, response.text
    return response.json()["data"]["webhook"]


async def total(api, tenant) -> int:
    return (await api.client.get("/v1/webhooks", headers=tenant.headers)).json()["data"]["total"]


def assert_error(response, status: int, code: str, field: str | None = None) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code, error
    if field is not None:
        assert error["details"][0]["field"] == field, error
    return error


async def test_create_shows_secret_once_then_masks_it(api, tenant):
    response = await api.client.post(
        "/v1/webhooks",
        json={
            "url": URL,
            "events": ["email.sent", "email.sent", "contact.created"],
            "metadata": {"team": "ops"},
        },
        headers=tenant.headers,
    )
    assert response.status_code == 201
    body = response.json()
    assert body["message"] == "Webhook created successfully"
    hook = body["data"]["webhook"]
    assert hook["secret"].startswith("whsec_") and len(hook["secret"]) > 40
    assert hook["events"] == ["email.sent", "contact.created"]
    assert (hook["url"], hook["isActive"], hook["status"], hook["failureCount"]) == (URL, True, "active", 0)
    assert hook["projectId"] == tenant.project_id and hook["metadata"] == {"team": "ops"}
    assert hook["lastFailedAt"] is None and hook["createdAt"].endswith("Z")
    got = (await api.client.get(f"/v1/webhooks/{hook['id']}", headers=tenant.headers)).json()["data"][
        "webhook"
    ]
    assert got == {**hook, "secret": "***hidden***"}
    listed = (await api.client.get("/v1/webhooks", headers=tenant.headers)).json()["data"]
    assert listed == {"webhooks": [got], "total": 1, "page": 1, "limit": 50, "totalPages": 1}
    revealed = await api.client.get(f"/v1/webhooks/{hook['id']}/reveal", headers=tenant.headers)
    assert revealed.json()["data"] == {"secret": hook["secret"]}


async def test_each_webhook_gets_its_own_secret(api, tenant):
    first, second = await create(api, tenant), await create(api, tenant)
    assert first["secret"] != second["secret"]


@pytest.mark.parametrize(
    "method,suffix",
    [
        ("get", ""),
        ("post", ""),
        ("get", "/x"),
        ("put", "/x"),
        ("delete", "/x"),
        ("get", "/x/logs"),
        ("get", "/x/reveal"),
        ("post", "/x/resend"),
        ("get", "/events/available"),
    ],
)
async def test_every_endpoint_needs_a_valid_key(api, tenant, method, suffix):
    for headers in ({}, {"Authorization": "Bearer AS_not-a-key"}):
        response = await api.client.request(method, f"/v1/webhooks{suffix}", headers=headers, json={})
        assert_error(response, 401, "UNAUTHORIZED")


async def test_another_projects_webhook_is_not_found(api, tenant, other_tenant):
    hook = await create(api, tenant)
    base = f"/v1/webhooks/{hook['id']}"
    calls = [
        ("get", base, None),
        ("put", base, {"isActive": False}),
        ("delete", base, None),
        ("get", f"{base}/logs", None),
        ("get", f"{base}/reveal", None),
        ("post", f"{base}/resend", {"event": "email.sent", "data": {}}),
    ]
    for method, path, body in calls:
        response = await api.client.request(method, path, json=body, headers=other_tenant.headers)
        assert_error(response, 404, "WEBHOOK_NOT_FOUND")
    assert await total(api, other_tenant) == 0
    still = (await api.client.get(base, headers=tenant.headers)).json()["data"]["webhook"]
    assert still["isActive"] is True


async def test_unknown_id_is_not_found(api, tenant):
    for method, suffix in [("get", ""), ("put", ""), ("delete", ""), ("get", "/logs"), ("get", "/reveal")]:
        response = await api.client.request(
            method, f"/v1/webhooks/{MISSING}{suffix}", json={}, headers=tenant.headers
        )
        assert_error(response, 404, "WEBHOOK_NOT_FOUND")


@pytest.mark.parametrize(
    "body,field",
    [
        ({"events": ["email.sent"]}, "url"),
        ({"url": 5, "events": ["email.sent"]}, "url"),
        ({"url": "ftp://files.example.com/x", "events": ["email.sent"]}, "url"),
        ({"url": "https://", "events": ["email.sent"]}, "url"),
        ({"url": "https://example.com:99999/x", "events": ["email.sent"]}, "url"),
        ({"url": "https://e.com/" + "a" * 2035, "events": ["email.sent"]}, "url"),
        ({"url": URL}, "events"),
        ({"url": URL, "events": []}, "events"),
        ({"url": URL, "events": "email.sent"}, "events"),
        ({"url": URL, "events": ["email.sent", "email.exploded"]}, "events"),
        ({"url": URL, "events": [1]}, "events[0]"),
        ({"url": URL, "events": ["email.sent"], "metadata": ["not", "an", "object"]}, "metadata"),
        ({"url": URL, "events": ["email.sent"], "metadata": {"big": "x" * 17000}}, "metadata"),
    ],
)
async def test_create_rejects_bad_input_and_creates_nothing(api, tenant, body, field):
    response = await api.client.post("/v1/webhooks", json=body, headers=tenant.headers)
    assert_error(response, 400, "VALIDATION_ERROR", field)
    assert await total(api, tenant) == 0


async def test_url_length_bound(api, tenant):
    exact = "https://e.com/" + "a" * (2048 - len("https://e.com/"))
    assert (await create(api, tenant, url=exact))["url"] == exact
    response = await api.client.post(
        "/v1/webhooks", json={"url": exact + "a", "events": ["email.sent"]}, headers=tenant.headers
    )
    assert_error(response, 400, "VALIDATION_ERROR", "url")


async def test_at_most_100_webhooks_per_project(api, tenant, other_tenant):
    for _ in range(100):
        await create(api, tenant)
    response = await api.client.post(
        "/v1/webhooks", json={"url": URL, "events": ["email.sent"]}, headers=tenant.headers
    )
    assert_error(response, 400, "WEBHOOK_LIMIT_REACHED")
    assert await total(api, tenant) == 100
    await create(api, other_tenant)


async def test_list_pages_filters_and_limit_bounds(api, tenant):
    hooks = [await create(api, tenant) for _ in range(3)]
    await api.client.put(f"/v1/webhooks/{hooks[0]['id']}", json={"isActive": False}, headers=tenant.headers)
    page = (await api.client.get("/v1/webhooks?limit=2&page=2", headers=tenant.headers)).json()["data"]
    assert [w["id"] for w in page["webhooks"]] == [hooks[0]["id"]]
    assert (page["total"], page["page"], page["limit"], page["totalPages"]) == (3, 2, 2, 2)
    active = (await api.client.get("/v1/webhooks?isActive=true", headers=tenant.headers)).json()["data"]
    assert [w["id"] for w in active["webhooks"]] == [hooks[2]["id"], hooks[1]["id"]]
    inactive = (await api.client.get("/v1/webhooks?isActive=false", headers=tenant.headers)).json()["data"]
    assert [w["id"] for w in inactive["webhooks"]] == [hooks[0]["id"]]
    ok = await api.client.get("/v1/webhooks?limit=100", headers=tenant.headers)
    assert ok.json()["data"]["limit"] == 100
    for query, field in [
        ("limit=101", "limit"),
        ("limit=0", "limit"),
        ("page=0", "page"),
        ("limit=abc", "limit"),
        ("isActive=maybe", "isActive"),
    ]:
        response = await api.client.get(f"/v1/webhooks?{query}", headers=tenant.headers)
        assert_error(response, 400, "VALIDATION_ERROR", field)


async def test_update_replaces_events_and_toggles_state(api, tenant):
    hook = await create(api, tenant, events=["email.sent", "email.opened"])
    path = f"/v1/webhooks/{hook['id']}"
    response = await api.client.put(
        path,
        json={"events": ["contact.created"], "url": URL + "/v2", "isActive": False},
        headers=tenant.headers,
    )
    assert response.json()["message"] == "Webhook updated successfully"
    updated = response.json()["data"]["webhook"]
    assert updated["events"] == ["contact.created"] and updated["url"] == URL + "/v2"
    assert (updated["isActive"], updated["status"], updated["secret"]) == (False, "inactive", "***hidden***")
    again = (await api.client.put(path, json={"isActive": True}, headers=tenant.headers)).json()["data"]
    assert (again["webhook"]["isActive"], again["webhook"]["status"]) == (True, "active")


async def test_secret_cannot_be_updated(api, tenant):
    hook = await create(api, tenant)
    path = f"/v1/webhooks/{hook['id']}"
    response = await api.client.put(
        path, json={"secret": "whsec_AAAA", "url": URL + "/changed"}, headers=tenant.headers
    )
    error = assert_error(response, 400, "VALIDATION_ERROR", "secret")
    assert error["details"][0]["message"].startswith("Secret cannot be updated")
    assert (await api.client.get(f"{path}/reveal", headers=tenant.headers)).json()["data"]["secret"] == hook[
        "secret"
    ]
    assert (await api.client.get(path, headers=tenant.headers)).json()["data"]["webhook"]["url"] == URL


@pytest.mark.parametrize(
    "body,field",
    [
        ({"isActive": "yes"}, "isActive"),
        ({"events": []}, "events"),
        ({"events": ["nope"]}, "events"),
        ({"url": "mailto:a@b.c"}, "url"),
        ({"url": 3}, "url"),
    ],
)
async def test_update_rejects_bad_input_and_changes_nothing(api, tenant, body, field):
    hook = await create(api, tenant)
    response = await api.client.put(f"/v1/webhooks/{hook['id']}", json=body, headers=tenant.headers)
    assert_error(response, 400, "VALIDATION_ERROR", field)
    got = (await api.client.get(f"/v1/webhooks/{hook['id']}", headers=tenant.headers)).json()["data"][
        "webhook"
    ]
    assert got == {**hook, "secret": "***hidden***"}


async def test_delete_then_gone(api, tenant):
    hook = await create(api, tenant)
    path = f"/v1/webhooks/{hook['id']}"
    response = await api.client.delete(path, headers=tenant.headers)
    assert response.json() == {"success": True, "message": "Webhook deleted successfully"}
    assert_error(await api.client.get(path, headers=tenant.headers), 404, "WEBHOOK_NOT_FOUND")
    assert_error(await api.client.delete(path, headers=tenant.headers), 404, "WEBHOOK_NOT_FOUND")


async def test_available_events(api, tenant):
    response = await api.client.get("/v1/webhooks/events/available", headers=tenant.headers)
    events = response.json()["data"]["events"]
    assert len(events) == 14 and set(events) == set(EVENTS)
    assert {"email.sent", "email.group_resubscribed", "contact.updated", "email.received"} <= set(events)


async def test_resend_queues_a_delivery_with_a_job_id(api, tenant):
    hook = await create(api, tenant, events=["email.opened"])
    response = await api.client.post(
        f"/v1/webhooks/{hook['id']}/resend",
        json={"event": "email.opened", "data": {"emailId": "e1"}},
        headers=tenant.headers,
    )
    assert response.status_code == 200
    assert response.json()["message"] == "Webhook queued for delivery"
    job_id = response.json()["data"]["jobId"]
    logs = (await api.client.get(f"/v1/webhooks/{hook['id']}/logs", headers=tenant.headers)).json()["data"]
    assert logs["total"] == 1 and logs["logs"][0]["_id"] == job_id
    entry = logs["logs"][0]
    assert (entry["event"], entry["status"], entry["success"], entry["attempts"]) == (
        "email.opened",
        "pending",
        False,
        0,
    )


async def test_resend_wrong_state_and_bad_input(api, tenant):
    hook = await create(api, tenant, events=["email.opened"])
    path = f"/v1/webhooks/{hook['id']}/resend"
    assert_error(
        await api.client.post(path, json={"event": "email.sent", "data": {}}, headers=tenant.headers),
        400,
        "WEBHOOK_NOT_SUBSCRIBED",
    )
    for body, field in [
        ({"event": "email.opened"}, "data"),
        ({"data": {}}, "event"),
        ({"event": "email.opened", "data": "text"}, "data"),
        ({"event": "email.nope", "data": {}}, "event"),
        ({"event": "email.opened", "data": {"x": "y" * 300_000}}, "data"),
    ]:
        assert_error(
            await api.client.post(path, json=body, headers=tenant.headers), 400, "VALIDATION_ERROR", field
        )
    await api.client.put(f"/v1/webhooks/{hook['id']}", json={"isActive": False}, headers=tenant.headers)
    assert_error(
        await api.client.post(path, json={"event": "email.opened", "data": {}}, headers=tenant.headers),
        400,
        "WEBHOOK_INACTIVE",
    )
    logs = (await api.client.get(f"/v1/webhooks/{hook['id']}/logs", headers=tenant.headers)).json()["data"]
    assert logs["total"] == 0


async def test_logs_newest_first_and_limit_bounds(api, tenant):
    hook = await create(api, tenant, events=["email.opened"])
    path = f"/v1/webhooks/{hook['id']}"
    jobs = []
    for n in range(3):
        sent = await api.client.post(
            f"{path}/resend", json={"event": "email.opened", "data": {"n": n}}, headers=tenant.headers
        )
        jobs.append(sent.json()["data"]["jobId"])
    page = (await api.client.get(f"{path}/logs?limit=2", headers=tenant.headers)).json()["data"]
    assert [entry["_id"] for entry in page["logs"]] == [jobs[2], jobs[1]]
    assert (page["total"], page["limit"], page["totalPages"]) == (3, 2, 2)
    assert (await api.client.get(f"{path}/logs?limit=100", headers=tenant.headers)).status_code == 200
    for query, field in [
        ("limit=101", "limit"),
        ("limit=0", "limit"),
        ("page=0", "page"),
        ("page=x", "page"),
    ]:
        assert_error(
            await api.client.get(f"{path}/logs?{query}", headers=tenant.headers),
            400,
            "VALIDATION_ERROR",
            field,
        )
