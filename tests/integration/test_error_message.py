"""Every error body carries a top-level `message` equal to `error.message` (autosendjs reads
`json.message ?? json.error`), on every path that answers an error, on both databases."""

from __future__ import annotations

import pytest

from sendhouse.app import create_app
from sendhouse.bootstrap import build_container


def assert_envelope(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is False
    assert body["error"]["code"] == code and body["error"]["status"] == status
    assert isinstance(body["message"], str) and body["message"]
    assert body["message"] == body["error"]["message"]
    return body


async def test_each_kind_of_error_has_a_top_level_message(api, tenant, other_tenant):
    h = tenant.headers
    cases = [
        (await api.client.get("/v1/campaigns"), 401, "UNAUTHORIZED"),
        (
            await api.client.get("/v1/campaigns", headers={"Authorization": "Bearer AS_nope"}),
            401,
            "UNAUTHORIZED",
        ),
        (await api.client.get("/v1/account/projects", headers=h), 403, "INSUFFICIENT_PERMISSIONS"),
        (await api.client.get("/v1/no-such-route", headers=h), 404, "NOT_FOUND"),
        (
            await api.client.get("/v1/campaigns/0123456789abcdef01234567", headers=h),
            404,
            "CAMPAIGN_NOT_FOUND",
        ),
        (await api.client.put("/v1/campaigns", headers=h), 405, "METHOD_NOT_ALLOWED"),
        (await api.client.post("/v1/senders", json={"email": 5}, headers=h), 400, "VALIDATION_FAILED"),
        (await api.client.post("/v1/contacts", json={"email": "nope"}, headers=h), 400, "VALIDATION_FAILED"),
        (await api.client.get("/v1/campaigns?name=a%00b", headers=h), 400, "VALIDATION_FAILED"),
    ]
    for response, status, code in cases:
        assert_envelope(response, status, code)
    body = assert_envelope(cases[6][0], 400, "VALIDATION_FAILED")
    assert body["error"]["details"][0]["field"] == "email"


async def test_conflict_and_wrong_state_errors_have_a_top_level_message(api, tenant):
    first = await api.client.post("/v1/senders", json={"email": "me@example.com"}, headers=tenant.headers)
    assert first.status_code == 200
    again = await api.client.post("/v1/senders", json={"email": "me@example.com"}, headers=tenant.headers)
    assert_envelope(again, 409, "AUTHENTICATED_SENDER_ALREADY_EXISTS")
    groups = (await api.client.get("/v1/suppression-groups", headers=tenant.headers)).json()["data"]["groups"]
    global_id = next(g["groupId"] for g in groups if g["isGlobal"])
    refused = await api.client.delete(f"/v1/suppression-groups/{global_id}", headers=tenant.headers)
    body = assert_envelope(refused, 400, "CANNOT_DELETE_GLOBAL_GROUP")
    assert "global" in body["message"].lower()


@pytest.fixture
async def tight_client(settings):
    import httpx2

    tight = settings.model_copy(update={"max_body_bytes": 2048, "rate_limit": 2})
    container = build_container(tight, migrate=False)
    app = create_app(container=container)
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://t") as client:
        yield client
    await container.close()


async def test_413_and_429_have_a_top_level_message(tight_client, api, tenant):
    big = await tight_client.post(
        "/v1/contacts",
        content=b'{"email": "' + b"x" * 4096 + b'"}',
        headers={**tenant.headers, "Content-Type": "application/json"},
    )
    assert_envelope(big, 413, "PAYLOAD_TOO_LARGE")
    answers = [await tight_client.get("/v1/senders", headers=tenant.headers) for _ in range(5)]
    limited = [r for r in answers if r.status_code == 429]
    assert limited
    body = assert_envelope(limited[0], 429, "RATE_LIMIT_EXCEEDED")
    assert body["retryAfter"] >= 1


async def test_openapi_error_envelope_declares_the_top_level_message(api):
    schema = (await api.client.get("/openapi.json")).json()["components"]["schemas"]["ErrorEnvelope"]
    assert "message" in schema["required"] and schema["properties"]["message"]["type"] == "string"
