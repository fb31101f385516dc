"""MCP over streamable HTTP inside the app (ASGI, both databases): the bearer key decides who may
call and which project the tools act on; unknown hosts are refused (DNS-rebinding protection)."""

from __future__ import annotations

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from tests.support.mcp_session import held

BASE = "http://sendhouse.test"
LIST_TOOLS = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
ACCEPT = {"accept": "application/json, text/event-stream", "content-type": "application/json"}


def over_http(api, headers: dict) -> Client:
    http = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=api.app), base_url=BASE, headers=headers)
    return Client(streamable_http_client(f"{BASE}/mcp", http_client=http))


async def data(client, name, args=None):
    result = await client.call_tool(name, args or {})
    assert not result.is_error, result.content
    return result.structured_content["data"]


async def error(client, name, args=None):
    result = await client.call_tool(name, args or {})
    assert result.is_error
    return result.structured_content["error"]


@pytest.mark.parametrize(
    "authorization", [None, "Bearer AS_not-a-real-key", "Bearer ", "Basic abc", "AS_raw"]
)
async def test_without_a_valid_key_the_endpoint_answers_401(api, tenant, authorization):
    headers = ACCEPT | ({"authorization": authorization} if authorization else {})
    response = await api.client.post("/mcp", json=LIST_TOOLS, headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    with pytest.raises(ExceptionGroup) as refused:
        async with held(over_http(api, {"authorization": authorization} if authorization else {})):
            pass
    assert refused.group_contains(MCPError)


async def test_a_revoked_key_is_refused(api, tenant):
    from sendhouse.services import projects

    row, key = await projects.create_api_key(api.db, project_id=tenant.project_id)
    await projects.revoke_api_key(api.db, project_id=tenant.project_id, key_id=row["id"])
    response = await api.client.post(
        "/mcp", json=LIST_TOOLS, headers=ACCEPT | {"authorization": f"Bearer {key}"}
    )
    assert response.status_code == 401


async def test_unknown_host_is_refused_even_with_a_key(api, tenant):
    headers = ACCEPT | tenant.headers | {"host": "evil.example"}
    assert (await api.client.post("/mcp", json=LIST_TOOLS, headers=headers)).status_code == 421
    origin = ACCEPT | tenant.headers | {"origin": "http://evil.example"}
    assert (await api.client.post("/mcp", json=LIST_TOOLS, headers=origin)).status_code == 403


async def test_a_project_key_acts_on_its_project_only(api, tenant, other_tenant):
    theirs = await api.client.post(
        "/v1/campaigns",
        headers=other_tenant.headers,
        json={"name": "T", "subject": "T", "htmlTemplate": "<p>t</p>"},
    )
    async with held(over_http(api, tenant.headers)) as client:
        assert (await data(client, "get_current_project"))["id"] == tenant.project_id
        made = await data(
            client, "create_campaign", {"name": "Mine", "subject": "S", "htmlTemplate": "<p>x</p>"}
        )
        assert made["status"] == "draft" and made["projectId"] == tenant.project_id
        missing = await error(client, "get_campaign", {"campaignId": theirs.json()["data"]["id"]})
        assert missing["code"] == "CAMPAIGN_NOT_FOUND"
        assert (await error(client, "switch_project", {"projectId": other_tenant.project_id}))[
            "code"
        ] == "INSUFFICIENT_PERMISSIONS"
    listed = await api.client.get("/v1/campaigns", headers=tenant.headers)
    assert [c["name"] for c in listed.json()["data"]["campaigns"]] == ["Mine"]


async def test_an_account_key_needs_a_project_then_acts_on_the_chosen_one(api, tenant, other_tenant):
    key = await api.account_key(tenant.project_id)
    made = await api.client.post(
        "/v1/account/projects", json={"name": "second"}, headers={"authorization": f"Bearer {key}"}
    )
    second = made.json()["data"]["id"]
    async with held(over_http(api, {"authorization": f"Bearer {key}"})) as client:
        unchosen = await error(client, "get_current_project")
        assert unchosen["code"] == "VALIDATION_FAILED" and unchosen["details"][0]["field"] == "projectId"
        assert {p["id"] for p in (await data(client, "list_projects"))["projects"]} == {
            tenant.project_id,
            second,
        }
        assert (await error(client, "switch_project", {"projectId": "f" * 24}))["code"] == "PROJECT_NOT_FOUND"
        foreign = await error(client, "switch_project", {"projectId": other_tenant.project_id})
        assert foreign["code"] == "PROJECT_NOT_FOUND"  # another organization's project
        switched = await data(client, "switch_project", {"projectId": second})
        assert switched["id"] == second
        assert (await data(client, "get_current_project"))["id"] == second
    async with held(over_http(api, {"authorization": f"Bearer {key}"})) as later:
        assert (await data(later, "get_current_project"))["id"] == second
    headers = {"authorization": f"Bearer {key}", "x-project-id": tenant.project_id}
    async with held(over_http(api, headers)) as pinned:
        assert (await data(pinned, "get_current_project"))["id"] == tenant.project_id
    async with held(over_http(api, {"authorization": f"Bearer {key}", "x-project-id": "f" * 24})) as wrong:
        assert (await error(wrong, "list_campaigns"))["code"] == "PROJECT_NOT_FOUND"
