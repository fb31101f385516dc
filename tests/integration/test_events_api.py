"""/v1/events: definitions (every rule and code of reference §1) and /events/send, on both databases."""

from __future__ import annotations

import asyncio

import pytest

from sendhouse.services import events as service
from tests.integration.test_dashboard_pages import _login

ORDER = {
    "eventName": "order_placed",
    "description": "An order",
    "properties": [
        {"propertyName": "order_total", "type": "number"},
        {"propertyName": "plan", "type": "string", "suggestedValues": "free, pro"},
        {"propertyName": "gift", "type": "boolean"},
        {"propertyName": "placed_at", "type": "date"},
    ],
}


async def define(api, tenant, body=ORDER):
    return await api.client.post("/v1/events", json=body, headers=tenant.headers)


async def contact(api, tenant, email="ann@example.com"):
    response = await api.client.post("/v1/contacts", json={"email": email}, headers=tenant.headers)
    return response.json()["data"]["id"]


async def names(api, tenant):
    listed = await api.client.get("/v1/events", headers=tenant.headers)
    return [e["eventName"] for e in listed.json()["data"]["events"]]


async def test_create_list_get_patch_delete(api, tenant):
    created = await define(api, tenant)
    assert created.status_code == 201, created.text
    data = created.json()["data"]
    assert data["eventName"] == "order_placed" and data["projectId"] == tenant.project_id
    assert data["properties"][1] == {
        "propertyName": "plan",
        "type": "string",
        "description": None,
        "suggestedValues": ["free", "pro"],
    }
    assert data["properties"][0]["suggestedValues"] == []
    await define(api, tenant, {"eventName": "signed_up"})
    assert await names(api, tenant) == ["signed_up", "order_placed"]  # newest first
    got = (await api.client.get("/v1/events/eventName/order_placed", headers=tenant.headers)).json()["data"]
    assert "projectId" not in got and got["id"] == data["id"]
    patched = await api.client.patch(
        "/v1/events/eventName/order_placed",
        headers=tenant.headers,
        json={"properties": [{"propertyName": "total", "type": "number"}]},
    )
    assert patched.status_code == 200
    assert [p["propertyName"] for p in patched.json()["data"]["properties"]] == [
        "total"
    ]  # replaced wholesale
    assert patched.json()["data"]["description"] == "An order"
    deleted = await api.client.delete("/v1/events/eventName/order_placed", headers=tenant.headers)
    assert deleted.json() == {"success": True, "message": "Event deleted successfully"}
    assert await names(api, tenant) == ["signed_up"]
    for method in ("GET", "DELETE", "PATCH"):
        gone = await api.client.request(
            method, "/v1/events/eventName/order_placed", headers=tenant.headers, json={"description": "x"}
        )
        assert gone.status_code == 404 and gone.json()["error"]["code"] == "EVENT_NOT_FOUND"
    again = await define(api, tenant)  # a soft-deleted name can be defined anew
    assert again.status_code == 201


@pytest.mark.parametrize("name", ["order-placed", "order placed", "café", "a.b"])
async def test_name_characters(api, tenant, name):
    response = await define(api, tenant, {"eventName": name})
    assert response.status_code == 400 and response.json()["error"]["code"] == "INVALID_EVENT_NAME_CHARACTERS"
    assert await names(api, tenant) == []


@pytest.mark.parametrize(
    "body,field",
    [
        ({}, "eventName"),
        ({"eventName": 5}, "eventName"),
        ({"eventName": "x" * 65}, "eventName"),
        ({"eventName": "ok", "properties": "nope"}, "properties"),
        ({"eventName": "ok", "properties": [{"propertyName": "a", "type": "text"}]}, "properties[0].type"),
        (
            {"eventName": "ok", "properties": [{"propertyName": "a-b", "type": "string"}]},
            "properties[0].propertyName",
        ),
        (
            {"eventName": "ok", "properties": [{"propertyName": "a", "type": "string"}] * 2},
            "properties[1].propertyName",
        ),
        (
            {
                "eventName": "ok",
                "properties": [{"propertyName": f"p{i}", "type": "string"} for i in range(51)],
            },
            "properties",
        ),
        (
            {
                "eventName": "ok",
                "properties": [{"propertyName": "n", "type": "number", "suggestedValues": ["x"]}],
            },
            "properties[0].suggestedValues",
        ),
        (
            {
                "eventName": "ok",
                "properties": [
                    {"propertyName": "n", "type": "string", "suggestedValues": [str(i) for i in range(51)]}
                ],
            },
            "properties[0].suggestedValues",
        ),
    ],
)
async def test_bad_definitions_change_nothing(api, tenant, body, field):
    response = await define(api, tenant, body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_FAILED" and error["details"][0]["field"] == field
    assert await names(api, tenant) == []


async def test_limits_at_the_bound(api, tenant):
    name = "x" * 64
    props = [
        {"propertyName": f"p{i}", "type": "string", "suggestedValues": [str(j) for j in range(50)]}
        for i in range(50)
    ]
    assert (await define(api, tenant, {"eventName": name, "properties": props})).status_code == 201


async def test_duplicate_and_maximum(api, tenant):
    assert (await define(api, tenant, {"eventName": "e0"})).status_code == 201
    dup = await define(api, tenant, {"eventName": "e0"})
    assert dup.status_code == 409 and dup.json()["error"]["code"] == "EVENT_ALREADY_EXISTS"
    for i in range(1, 100):
        assert (await define(api, tenant, {"eventName": f"e{i}"})).status_code == 201
    full = await define(api, tenant, {"eventName": "e100"})
    assert full.status_code == 400 and full.json()["error"]["code"] == "MAX_EVENTS_REACHED"
    await api.client.delete("/v1/events/eventName/e5", headers=tenant.headers)
    assert (await define(api, tenant, {"eventName": "e100"})).status_code == 201


async def test_patch_needs_data(api, tenant):
    await define(api, tenant)
    empty = await api.client.patch("/v1/events/eventName/order_placed", json={}, headers=tenant.headers)
    assert empty.status_code == 400 and empty.json()["error"]["code"] == "NO_DATA_TO_UPDATE"
    bad = await api.client.patch(
        "/v1/events/eventName/order_placed",
        headers=tenant.headers,
        json={"properties": [{"propertyName": "a", "type": "nope"}]},
    )
    assert bad.status_code == 400
    got = (await api.client.get("/v1/events/eventName/order_placed", headers=tenant.headers)).json()["data"]
    assert len(got["properties"]) == 4


async def test_auth_and_other_projects(api, tenant, other_tenant):
    await define(api, tenant)
    assert (await api.client.get("/v1/events")).status_code == 401
    assert (
        await api.client.get("/v1/events", headers={"Authorization": "Bearer AS_nope"})
    ).status_code == 401
    assert await names(api, other_tenant) == []
    for method in ("GET", "PATCH", "DELETE"):
        response = await api.client.request(
            method,
            "/v1/events/eventName/order_placed",
            headers=other_tenant.headers,
            json={"description": "mine"},
        )
        assert response.status_code == 404 and response.json()["error"]["code"] == "EVENT_NOT_FOUND"
    cid = await contact(api, tenant)
    sent = await api.client.post(
        "/v1/events/send", headers=other_tenant.headers, json={"eventName": "order_placed", "contactId": cid}
    )
    assert sent.status_code == 404 and sent.json()["error"]["code"] == "EVENT_NOT_FOUND"
    assert (await define(api, other_tenant)).status_code == 201  # names are per project
    sent = await api.client.post(
        "/v1/events/send", headers=other_tenant.headers, json={"eventName": "order_placed", "contactId": cid}
    )
    assert sent.status_code == 404 and sent.json()["error"]["code"] == "CONTACT_NOT_FOUND_FOR_EVENT"


async def send(api, tenant, body, **headers):
    return await api.client.post("/v1/events/send", json=body, headers={**tenant.headers, **headers})


async def test_send_coerces_and_logs_for_the_contact(api, tenant):
    await define(api, tenant)
    cid = await contact(api, tenant)
    response = await send(
        api,
        tenant,
        {
            "eventName": "order_placed",
            "email": "ANN@example.com",
            "eventProperties": {
                "order_total": "12.5",
                "plan": "pro",
                "gift": "true",
                "placed_at": "2026-01-02T03:04:05Z",
            },
        },
    )
    assert response.status_code == 201, response.text
    data = response.json()["data"]
    assert data["contactId"] == cid and data["eventName"] == "order_placed"
    assert data["properties"] == {
        "order_total": 12.5,
        "plan": "pro",
        "gift": True,
        "placed_at": "2026-01-02T03:04:05.000Z",
    }
    log = await service.contact_events(api.db, tenant.project_id, cid)
    assert [e["id"] for e in log] == [data["id"]]


async def test_contact_id_wins_over_email(api, tenant):
    await define(api, tenant, {"eventName": "ping"})
    ann, bob = await contact(api, tenant), await contact(api, tenant, "bob@example.com")
    response = await send(api, tenant, {"eventName": "ping", "email": "ann@example.com", "contactId": bob})
    assert response.json()["data"]["contactId"] == bob != ann


@pytest.mark.parametrize(
    "body,status,code",
    [
        ({"email": "ann@example.com"}, 400, "VALIDATION_FAILED"),
        ({"eventName": "order_placed"}, 400, "EMAIL_OR_CONTACT_ID_REQUIRED"),
        ({"eventName": "nope", "email": "ann@example.com"}, 404, "EVENT_NOT_FOUND"),
        ({"eventName": "order_placed", "email": "zed@example.com"}, 404, "CONTACT_NOT_FOUND_FOR_EVENT"),
        ({"eventName": "order_placed", "contactId": "0" * 24}, 404, "CONTACT_NOT_FOUND_FOR_EVENT"),
        (
            {"eventName": "order_placed", "email": "ann@example.com", "eventProperties": {"color": "red"}},
            400,
            "UNKNOWN_PROPERTY",
        ),
        (
            {
                "eventName": "order_placed",
                "email": "ann@example.com",
                "eventProperties": {"order_total": "lots"},
            },
            400,
            "INVALID_PROPERTY_VALUE",
        ),
        (
            {"eventName": "order_placed", "email": "ann@example.com", "eventProperties": {"gift": "maybe"}},
            400,
            "INVALID_PROPERTY_VALUE",
        ),
        (
            {
                "eventName": "order_placed",
                "email": "ann@example.com",
                "eventProperties": {"placed_at": "soon"},
            },
            400,
            "INVALID_PROPERTY_VALUE",
        ),
        (
            {"eventName": "order_placed", "email": "ann@example.com", "eventProperties": {"plan": {"a": 1}}},
            400,
            "INVALID_PROPERTY_VALUE",
        ),
        ({"eventName": "order_placed", "email": 5}, 400, "VALIDATION_FAILED"),
        (
            {"eventName": "order_placed", "email": "ann@example.com", "eventProperties": []},
            400,
            "VALIDATION_FAILED",
        ),
    ],
)
async def test_send_errors_store_nothing(api, tenant, body, status, code):
    await define(api, tenant)
    cid = await contact(api, tenant)
    response = await send(api, tenant, body)
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    assert await service.contact_events(api.db, tenant.project_id, cid) == []


async def test_send_refused_after_delete(api, tenant):
    await define(api, tenant)
    await contact(api, tenant)
    await api.client.delete("/v1/events/eventName/order_placed", headers=tenant.headers)
    response = await send(api, tenant, {"eventName": "order_placed", "email": "ann@example.com"})
    assert response.status_code == 404 and response.json()["error"]["code"] == "EVENT_NOT_FOUND"


async def test_idempotency_key(api, tenant):
    await define(api, tenant)
    cid = await contact(api, tenant)
    body = {"eventName": "order_placed", "contactId": cid, "eventProperties": {"order_total": 3}}
    first = await send(api, tenant, body, **{"Idempotency-Key": "k1"})
    again = await send(api, tenant, body, **{"Idempotency-Key": "k1"})
    assert first.status_code == again.status_code == 201
    assert again.json()["data"] == first.json()["data"]
    other = await send(
        api, tenant, {**body, "eventProperties": {"order_total": 4}}, **{"Idempotency-Key": "k1"}
    )
    assert other.status_code == 409 and other.json()["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert len(await service.contact_events(api.db, tenant.project_id, cid)) == 1
    failed = await send(api, tenant, {"eventName": "order_placed"}, **{"Idempotency-Key": "k2"})
    assert failed.status_code == 400
    fixed = await send(api, tenant, body | {"eventProperties": {}}, **{"Idempotency-Key": "k2"})
    assert fixed.status_code == 201  # a failed attempt is not stored: the key may be used again
    assert len(await service.contact_events(api.db, tenant.project_id, cid)) == 2


async def test_events_show_in_the_contact_activity_page(api, tenant):
    await define(api, tenant)
    cid = await contact(api, tenant)
    await send(
        api, tenant, {"eventName": "order_placed", "contactId": cid, "eventProperties": {"plan": "pro"}}
    )
    await _login(api, tenant)
    page = (await api.client.get(f"/app/contacts/{cid}")).text
    assert "order_placed" in page and "plan=pro" in page


async def test_concurrent_creates_never_pass_the_maximum(api, tenant):
    for i in range(99):
        assert (await define(api, tenant, {"eventName": f"e{i}"})).status_code == 201
    answers = await asyncio.gather(*(define(api, tenant, {"eventName": f"late{i}"}) for i in range(4)))
    assert sorted(a.status_code for a in answers) == [201, 400, 400, 400]
    assert len(await names(api, tenant)) == 100
