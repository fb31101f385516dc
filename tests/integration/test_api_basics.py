"""The envelope around every response: 404s, 413s, 429s, OpenAPI and docs."""

from __future__ import annotations

import pytest

from sendhouse.app import create_app
from sendhouse.bootstrap import build_container


async def test_unknown_route_is_404_in_envelope(api, tenant):
    response = await api.client.get("/v1/nothing-here", headers=tenant.headers)
    assert response.status_code == 404
    assert response.json()["success"] is False and response.json()["error"]["code"] == "NOT_FOUND"


async def test_openapi_and_docs_are_served(api):
    schema = (await api.client.get("/openapi.json")).json()
    assert schema["info"]["title"] == "Sendhouse" and "/v1/account/projects" in schema["paths"]
    docs = await api.client.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


@pytest.fixture
async def small_api(settings, tmp_path):
    import httpx2

    tight = settings.model_copy(update={"max_body_bytes": 2048, "rate_limit": 3})
    container = build_container(tight, migrate=False)
    app = create_app(container=container)
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://t") as client:
        yield client, container
    await container.close()


async def test_oversized_body_is_413_and_changes_nothing(small_api, api):
    client, _container = small_api
    tenant = await api.tenant("big")
    key = await api.account_key(tenant.project_id)
    headers = {"Authorization": f"Bearer {key}"}
    response = await client.post(
        "/v1/account/projects",
        content=b'{"name": "' + b"x" * 4096 + b'"}',
        headers={**headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"
    listed = (await client.get("/v1/account/projects", headers=headers)).json()["data"]["projects"]
    assert [p["name"] for p in listed] == ["big"]


async def test_oversized_chunked_body_is_413(small_api, api):
    client, _ = small_api
    tenant = await api.tenant("chunky")
    headers = {"Authorization": f"Bearer {await api.account_key(tenant.project_id)}"}

    async def chunks():
        for _ in range(10):
            yield b"x" * 1024

    response = await client.post("/v1/account/projects", content=chunks(), headers=headers)
    assert response.status_code == 413


async def test_rate_limit_gives_429_with_retry_after(small_api, api):
    client, _ = small_api
    tenant = await api.tenant("busy")
    headers = {"Authorization": f"Bearer {await api.account_key(tenant.project_id)}"}
    statuses = [(await client.get("/v1/account/projects", headers=headers)) for _ in range(6)]
    limited = [r for r in statuses if r.status_code == 429]
    assert limited, [r.status_code for r in statuses]
    body = limited[0].json()
    assert body["error"]["code"] == "RATE_LIMIT_EXCEEDED" and body["error"]["retryAfter"] >= 1
    assert int(limited[0].headers["Retry-After"]) >= 1
    assert limited[0].headers["x-ratelimit-remaining"] == "0"


async def test_account_key_without_project_header_on_project_route(api, tenant):
    key = await api.account_key(tenant.project_id)
    response = await api.client.get("/v1/campaigns", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 400
    assert response.json()["error"]["details"][0]["field"] == "x-project-id"


async def test_account_key_with_foreign_project_header_is_404(api, tenant):
    key = await api.account_key(tenant.project_id)
    headers = {"Authorization": f"Bearer {key}", "x-project-id": "0" * 24}
    response = await api.client.get("/v1/campaigns", headers=headers)
    assert response.status_code == 404 and response.json()["error"]["code"] == "PROJECT_NOT_FOUND"


async def test_revoked_key_is_401(api, tenant):
    from sendhouse.services import projects as project_service

    row, key = await project_service.create_api_key(api.db, project_id=tenant.project_id)
    headers = {"Authorization": f"Bearer {key}"}
    await project_service.revoke_api_key(api.db, project_id=tenant.project_id, key_id=row["id"])
    response = await api.client.get("/v1/campaigns", headers=headers)
    assert response.status_code == 401


async def test_only_key_hash_is_stored(api, tenant):
    import sqlalchemy as sa

    from sendhouse.store.schema.core import api_keys

    async with api.db.read() as conn:
        stored = [r._mapping for r in await conn.execute(sa.select(api_keys))]
    assert stored and all(tenant.key not in str(dict(r).values()) for r in stored)
