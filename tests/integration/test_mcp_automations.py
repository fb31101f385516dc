"""MCP tools over events and automations through the SDK's real client, on both databases:
drafts only, automation templates required, activation previewed before it is confirmed."""

from __future__ import annotations

from tests.integration.test_mcp_tools import call, error_of, mcp  # noqa: F401 - the mcp fixture
from tests.support.automation_data import runs


async def _template(mcp_client, kind: str = "automation") -> str:
    made = await call(
        mcp_client,
        "create_template",
        {"templateName": "Hello", "subject": "Hi", "htmlTemplate": "<p>Hi</p>", "templateType": kind},
    )
    return made["templateId"]


def _steps(template_id: str) -> list[dict]:
    return [
        {"type": "wait", "stepId": "w", "delay": {"value": 0, "unit": "minutes"}},
        {
            "type": "email",
            "stepId": "e",
            "email": {"templateId": template_id, "senderEmail": "team@example.com"},
        },
    ]


async def test_event_definitions(api, tenant, mcp):  # noqa: F811
    await api.client.post(
        "/v1/events",
        headers=tenant.headers,
        json={"eventName": "paid", "properties": [{"propertyName": "total", "type": "number"}]},
    )
    listed = await call(mcp, "list_event_definitions")
    assert [e["eventName"] for e in listed["events"]] == ["paid"]
    got = await call(mcp, "get_event_definition", {"eventName": "paid"})
    assert got["properties"][0]["type"] == "number"
    assert (await error_of(mcp, "get_event_definition", {"eventName": "nope"}))["code"] == "EVENT_NOT_FOUND"


async def test_create_is_a_draft_and_activation_needs_confirmation(api, tenant, mcp):  # noqa: F811
    template_id = await _template(mcp)
    made = await call(
        mcp, "create_automation", {"name": "Welcome", "steps": _steps(template_id), "active": True}
    )
    assert made["status"] == "draft"
    edited = await call(
        mcp, "update_automation", {"automationId": made["id"], "name": "Hello", "active": True}
    )
    assert edited["status"] == "draft" and edited["name"] == "Hello"
    preview = await call(mcp, "activate_automation", {"automationId": made["id"]})
    assert preview["confirmed"] is False and preview["preview"]["canActivate"] is True
    assert (await call(mcp, "get_automation", {"automationId": made["id"]}))["status"] == "draft"
    await api.client.post("/v1/contacts", json={"email": "early@example.com"}, headers=tenant.headers)
    done = await call(mcp, "activate_automation", {"automationId": made["id"], "confirmed": True})
    assert done["automation"]["status"] == "active"
    await api.client.post("/v1/contacts", json={"email": "late@example.com"}, headers=tenant.headers)
    assert len(await runs(api.db, made["id"])) == 1  # only contacts created after activation enter
    listed = await call(mcp, "list_automations", {"status": "active"})
    assert [a["id"] for a in listed["workflowAutomations"]] == [made["id"]]
    refused = await error_of(mcp, "update_automation", {"automationId": made["id"], "name": "x"})
    assert refused["code"] == "CANNOT_EDIT_AUTOMATION"


async def test_preview_names_what_blocks_activation(mcp):  # noqa: F811
    made = await call(mcp, "create_automation", {"name": "Empty"})
    preview = (await call(mcp, "activate_automation", {"automationId": made["id"]}))["preview"]
    assert preview["canActivate"] is False and "email step" in preview["problem"]
    error = await error_of(mcp, "activate_automation", {"automationId": made["id"], "confirmed": True})
    assert error["code"] == "CANNOT_ACTIVATE_AUTOMATION"
    assert (await call(mcp, "get_automation", {"automationId": made["id"]}))["status"] == "draft"


async def test_email_steps_need_automation_templates(api, tenant, mcp):  # noqa: F811
    other = await _template(mcp, "transactional")
    for steps in (
        _steps(other),
        _steps("A-" + "0" * 20),
        [
            {"type": "wait", "delay": {"value": 0, "unit": "minutes"}},
            {"type": "email", "email": {"htmlTemplate": "<p>x</p>", "subject": "s"}},
        ],
    ):
        error = await error_of(mcp, "create_automation", {"name": "W", "steps": steps})
        assert error["code"] == "AUTOMATION_TEMPLATE_REQUIRED"
    assert (await call(mcp, "list_automations"))["workflowAutomations"] == []


async def test_other_projects_automations_are_not_found(api, other_tenant, mcp):  # noqa: F811
    theirs = await api.client.post("/v1/automations", json={"name": "Theirs"}, headers=other_tenant.headers)
    aid = theirs.json()["data"]["id"]
    for tool, args in (
        ("get_automation", {}),
        ("activate_automation", {"confirmed": True}),
        ("update_automation", {"name": "mine"}),
    ):
        assert (await error_of(mcp, tool, {"automationId": aid, **args}))["code"] == "WORKFLOW_NOT_FOUND"


async def test_tool_arguments_out_of_bounds_are_refused_and_change_nothing(mcp):  # noqa: F811
    missing_name = await mcp.call_tool("create_automation", {"steps": []})
    assert missing_name.is_error
    made = await call(mcp, "create_automation", {"name": "Kept"})
    too_long = await mcp.call_tool(
        "update_automation", {"automationId": made["id"], "description": "x" * 1001}
    )
    assert too_long.is_error
    wrong_type = await mcp.call_tool("update_automation", {"automationId": made["id"], "tags": "a,b"})
    assert wrong_type.is_error
    kept = await call(mcp, "get_automation", {"automationId": made["id"]})
    assert kept["name"] == "Kept" and not kept.get("description") and not kept.get("tags")
    listed = await call(mcp, "list_automations")
    assert [a["name"] for a in listed["workflowAutomations"]] == ["Kept"]
