"""The account-level projects API, auth and the envelope, on both databases."""

from __future__ import annotations

import pytest


async def test_missing_key_is_401_in_envelope(api):
    response = await api.client.get("/v1/account/projects")
    assert response.status_code == 401
    assert response.json() == {
        "success": False,
        "message": "Unauthorized",
        "error": {"message": "Unauthorized", "code": "UNAUTHORIZED", "status": 401},
    }


async def test_wrong_key_is_401(api):
    response = await api.client.get("/v1/account/projects", headers={"Authorization": "Bearer AS_nope"})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "UNAUTHORIZED"


async def test_project_key_gets_403(api, tenant):
    response = await api.client.get("/v1/account/projects", headers=tenant.headers)
    assert response.status_code == 403


async def test_account_key_lists_creates_gets_and_deletes(api, tenant):
    headers = {"Authorization": f"Bearer {await api.account_key(tenant.project_id)}"}
    created = await api.client.post("/v1/account/projects", json={"name": "second"}, headers=headers)
    assert created.status_code == 201, created.text
    second = created.json()["data"]
    assert second["name"] == "second" and len(second["id"]) == 24
    listed = (await api.client.get("/v1/account/projects", headers=headers)).json()["data"]["projects"]
    assert [p["name"] for p in listed] == ["main", "second"]
    got = await api.client.get(f"/v1/account/projects/{second['id']}", headers=headers)
    assert got.json()["data"]["id"] == second["id"]
    deleted = await api.client.delete(f"/v1/account/projects/{second['id']}", headers=headers)
    assert deleted.json() == {"success": True, "message": "Project deleted successfully"}
    missing = await api.client.get(f"/v1/account/projects/{second['id']}", headers=headers)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "PROJECT_NOT_FOUND"


async def test_last_project_cannot_be_deleted(api, tenant):
    headers = {"Authorization": f"Bearer {await api.account_key(tenant.project_id)}"}
    response = await api.client.delete(f"/v1/account/projects/{tenant.project_id}", headers=headers)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "LAST_PROJECT_CANNOT_BE_DELETED"


async def test_create_project_validates_types_and_limits(api, tenant):
    headers = {"Authorization": f"Bearer {await api.account_key(tenant.project_id)}"}
    for body, field in [({"name": 5}, "name"), ({}, "name"), ({"name": "x" * 101}, "name")]:
        response = await api.client.post("/v1/account/projects", json=body, headers=headers)
        assert response.status_code == 400
        error = response.json()["error"]
        assert error["code"] == "VALIDATION_FAILED" and error["details"][0]["field"] == field
    ok = await api.client.post("/v1/account/projects", json={"name": "x" * 100}, headers=headers)
    assert ok.status_code == 201


async def test_create_project_region_key_is_one_of_autosends_regions(api, tenant):
    headers = {"Authorization": f"Bearer {await api.account_key(tenant.project_id)}"}
    for region in ("mars-1", "US-EAST-1", "", 5):
        response = await api.client.post(
            "/v1/account/projects", json={"name": "r", "regionKey": region}, headers=headers
        )
        assert response.status_code == 400, region
        error = response.json()["error"]
        assert error["code"] == "VALIDATION_FAILED" and error["details"][0]["field"] == "regionKey"
    listed = (await api.client.get("/v1/account/projects", headers=headers)).json()["data"]["projects"]
    assert [p["name"] for p in listed] == ["main"]
    made = await api.client.post(
        "/v1/account/projects", json={"name": "eu", "regionKey": "eu-central-1"}, headers=headers
    )
    assert made.status_code == 201 and made.json()["data"]["regionKey"] == "eu-central-1"


async def test_create_project_service_refuses_unknown_regions(api):
    from sendhouse.errors import InvalidInput
    from sendhouse.services import projects as service

    with pytest.raises(InvalidInput) as refused:
        await service.create_project(api.db, name="x", region_key="moon-2")
    assert refused.value.details[0]["field"] == "regionKey"


async def test_malformed_project_id_is_400_validation_error(api, tenant):
    headers = {"Authorization": f"Bearer {await api.account_key(tenant.project_id)}"}
    for method in ("GET", "DELETE"):
        for bad in (
            "not-valid",
            "0123456789abcdef0123456",
            "0123456789abcdef012345678",
            "zz23456789abcdef01234567",
        ):
            response = await api.client.request(method, f"/v1/account/projects/{bad}", headers=headers)
            assert response.status_code == 400, (method, bad)
            body = response.json()
            assert body["error"]["code"] == "VALIDATION_ERROR" and body["message"] == "Invalid project ID"
        unknown = await api.client.request(
            method, "/v1/account/projects/0123456789abcdef01234567", headers=headers
        )
        assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "PROJECT_NOT_FOUND"
    assert (await api.client.get("/v1/account/projects/not-valid", headers=tenant.headers)).status_code == 403
    assert (await api.client.get("/v1/account/projects/not-valid")).status_code == 401


async def test_rate_limit_headers_present(api, tenant):
    headers = {"Authorization": f"Bearer {await api.account_key(tenant.project_id)}"}
    response = await api.client.get("/v1/account/projects", headers=headers)
    assert int(response.headers["x-ratelimit-limit"]) == api.container.settings.rate_limit
    assert "x-ratelimit-remaining" in response.headers and "x-ratelimit-reset" in response.headers
