"""The MCP tools through the SDK's real client, connected in-process to the server built for one
project (as `sendhouse mcp` builds it), on SQLite and PostgreSQL: drafts only, previews before
sends, test sends as transactional mail, errors with the API's codes, prompts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from mcp import Client

from sendhouse.mcp_tools.server import build_server
from sendhouse.services import projects as project_service
from sendhouse.services import suppressions
from sendhouse.services.projects import Principal
from sendhouse.store.schema.campaigns import messages
from tests.support.mcp_session import held
from tests.support.sending_data import seed_list

EXPECTED_TOOLS = {
    "get_current_project",
    "list_projects",
    "switch_project",
    "get_lists_and_segments",
    "create_contact_list",
    "list_contact_properties",
    "list_templates",
    "get_template",
    "create_template",
    "update_template",
    "delete_template",
    "list_senders",
    "get_sender",
    "create_sender",
    "list_suppression_groups",
    "get_suppression_group",
    "create_suppression_group",
    "list_campaigns",
    "get_campaign",
    "create_campaign",
    "update_campaign",
    "delete_campaign",
    "duplicate_campaign",
    "send_campaign",
    "send_test_email",
    "get_campaign_analytics",
    "get_email_activity_analytics",
    "list_event_definitions",
    "get_event_definition",
    "list_automations",
    "get_automation",
    "create_automation",
    "update_automation",
    "activate_automation",
}
DRAFT = {
    "name": "Launch",
    "subject": "Hello {{first_name}}",
    "htmlTemplate": '<p>Hi {{first_name | "there"}}</p>',
    "fromEmail": "news@example.com",
    "fromName": "News",
}


async def project_client(api, tenant):
    project = await project_service.resolve_project(api.db, tenant.project_id)
    principal = Principal("test", "project", project["organization_id"], tenant.project_id)
    return Client(build_server(api.container, principal=principal))


@pytest.fixture
async def mcp(api, tenant):
    async with held(await project_client(api, tenant)) as client:
        yield client


async def call(client, name: str, args: dict | None = None) -> dict:
    """The data of a successful call (fails the test on a tool error)."""
    result = await client.call_tool(name, args or {})
    assert not result.is_error, result.content
    return result.structured_content["data"]


async def error_of(client, name: str, args: dict) -> dict:
    result = await client.call_tool(name, args)
    assert result.is_error
    assert result.structured_content["message"] == result.structured_content["error"]["message"]
    return result.structured_content["error"]


async def ledger_rows(api, **where) -> int:
    async with api.db.read() as conn:
        query = sa.select(sa.func.count()).select_from(messages)
        for column, value in where.items():
            query = query.where(messages.c[column] == value)
        return (await conn.execute(query)).scalar_one()


async def test_the_tools_and_prompts_listed_and_no_way_to_stop_a_campaign(mcp):
    tools = (await mcp.list_tools()).tools
    assert {t.name for t in tools} == EXPECTED_TOOLS
    assert not [
        t.name for t in tools if any(w in t.name for w in ("pause", "resume", "abort", "stop", "cancel"))
    ]
    assert all(t.description and t.input_schema["type"] == "object" for t in tools)
    create = next(t for t in tools if t.name == "create_campaign").input_schema["properties"]
    assert not {"publish", "sendNow", "scheduledAt"} & set(create)
    required = next(t for t in tools if t.name == "create_campaign").input_schema["required"]
    assert set(required) == {"name", "subject"}, required
    assert create["subject"]["maxLength"] == 998 and create["previewText"]["maxLength"] == 200
    update = next(t for t in tools if t.name == "update_campaign").input_schema
    assert set(update["properties"]) == set(create) | {"campaignId"} and update["required"] == ["campaignId"]
    prompts = {p.name: p for p in (await mcp.list_prompts()).prompts}
    assert set(prompts) == {"create-campaign", "create-template", "create-automation"}
    assert all(
        [a.name for a in p.arguments] == ["context"] and not p.arguments[0].required for p in prompts.values()
    )
    got = await mcp.get_prompt("create-campaign", {"context": "spring sale for VIPs"})
    text = got.messages[0].content.text
    assert "spring sale for VIPs" in text and "confirmed=true" in text
    plain = await mcp.get_prompt("create-automation")
    assert 'templateType "automation"' in plain.messages[0].content.text


async def test_create_is_always_a_draft_even_when_asked_to_send(mcp):
    created = await call(
        mcp,
        "create_campaign",
        {
            **DRAFT,
            "sendNow": True,
            "publish": True,
            "scheduledAt": "2099-01-01T00:00:00Z",
            "sendToGlobalList": True,
        },
    )
    assert created["status"] == "draft" and created["source"] == "mcp" and created["scheduledAt"] is None
    assert created["from"] == {"email": "news@example.com", "name": "News"}
    updated = await call(
        mcp,
        "update_campaign",
        {
            "campaignId": created["id"],
            "subject": "New",
            "sendNow": True,
            "publish": True,
            "scheduledAt": "2099-01-01T00:00:00Z",
        },
    )
    assert updated["status"] == "draft" and updated["subject"] == "New" and updated["scheduledAt"] is None
    listed = await call(mcp, "list_campaigns", {"status": "draft"})
    assert [c["id"] for c in listed["campaigns"]] == [created["id"]]


async def test_update_refuses_anything_but_a_draft(api, tenant, mcp):
    body = {
        "name": "S",
        "subject": "S",
        "htmlTemplate": "<p>x</p>",
        "from": {"email": "a@example.com"},
        "sendToGlobalList": True,
        "scheduledAt": "2099-01-01T09:00:00Z",
    }
    scheduled = (await api.client.post("/v1/campaigns", json=body, headers=tenant.headers)).json()["data"]
    error = await error_of(mcp, "update_campaign", {"campaignId": scheduled["id"], "subject": "changed"})
    assert error["code"] == "CAMPAIGN_NOT_EDITABLE"
    again = await call(mcp, "get_campaign", {"campaignId": scheduled["id"]})
    assert again["subject"] == "S" and again["status"] == "scheduled"
    deleted = await error_of(mcp, "delete_campaign", {"campaignId": scheduled["id"]})
    assert deleted["code"] == "ONLY_DRAFT_CAMPAIGNS_CAN_BE_DELETED"


async def test_send_campaign_previews_then_schedules_only_with_the_preview_token(api, tenant, mcp):
    list_id = await seed_list(api.db, tenant.project_id, 5)
    await suppressions.suppress_emails(
        api.db, tenant.project_id, ["user0@example.com"], group_code=None, reason="MANUAL", is_global=True
    )
    draft = await call(mcp, "create_campaign", {**DRAFT, "toLists": [list_id]})
    for confirmed in ({}, {"confirmed": False}):
        answer = await call(mcp, "send_campaign", {"campaignId": draft["id"], **confirmed})
        preview = answer["preview"]
        assert answer["confirmed"] is False and preview["canSend"] is True and preview["problems"] == []
        assert preview["audience"] == {"totalContacts": 5, "suppressed": 1, "recipients": 4}
        assert preview["subject"] == DRAFT["subject"] and preview["from"]["email"] == "news@example.com"
        assert answer["confirmationToken"] and answer["expiresInSeconds"] == 300
    first = await error_of(mcp, "send_campaign", {"campaignId": draft["id"], "confirmed": True})
    assert first["code"] == "CONFIRMATION_TOKEN_REQUIRED"
    assert (await call(mcp, "get_campaign", {"campaignId": draft["id"]}))["status"] == "draft"
    before = datetime.now(UTC)
    sent = await call(
        mcp,
        "send_campaign",
        {"campaignId": draft["id"], "confirmed": True, "confirmationToken": answer["confirmationToken"]},
    )
    assert sent["confirmed"] is True and sent["campaign"]["status"] == "scheduled"
    starts = datetime.fromisoformat(sent["campaign"]["scheduledAt"])
    assert starts >= before + timedelta(seconds=api.container.settings.send_now_delay) - timedelta(seconds=1)
    again = await error_of(
        mcp,
        "send_campaign",
        {"campaignId": draft["id"], "confirmed": True, "confirmationToken": answer["confirmationToken"]},
    )
    assert again["code"] == "CONFIRMATION_TOKEN_USED"  # a token acts once (the state would refuse too)
    assert await ledger_rows(api, campaign_id=draft["id"]) == 0


async def _preview_token(mcp, tool: str, args: dict) -> str:
    return (await call(mcp, tool, args))["confirmationToken"]


async def test_a_token_confirms_only_its_campaign_audience_and_time(api, tenant, mcp, monkeypatch):
    list_id = await seed_list(api.db, tenant.project_id, 3)
    one = await call(mcp, "create_campaign", {**DRAFT, "toLists": [list_id]})
    two = await call(mcp, "create_campaign", {**DRAFT, "name": "Other", "toLists": [list_id]})
    token = await _preview_token(mcp, "send_campaign", {"campaignId": one["id"]})
    test_token = await _preview_token(
        mcp, "send_test_email", {"campaignId": one["id"], "emails": ["qa@example.org"]}
    )
    cases = [
        (two["id"], token, "CONFIRMATION_TOKEN_INVALID"),  # another campaign's preview
        (one["id"], test_token, "CONFIRMATION_TOKEN_INVALID"),  # another action's preview
        (
            one["id"],
            token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB"),
            "CONFIRMATION_TOKEN_INVALID",
        ),
        (one["id"], "not-a-token", "CONFIRMATION_TOKEN_INVALID"),
    ]
    for campaign_id, given, code in cases:
        refused = await error_of(
            mcp, "send_campaign", {"campaignId": campaign_id, "confirmed": True, "confirmationToken": given}
        )
        assert refused["code"] == code, (campaign_id, given)
    await suppressions.suppress_emails(
        api.db, tenant.project_id, ["user1@example.com"], group_code=None, reason="MANUAL", is_global=True
    )  # the audience shrinks to 2
    stale = await error_of(
        mcp, "send_campaign", {"campaignId": one["id"], "confirmed": True, "confirmationToken": token}
    )
    assert stale["code"] == "CONFIRMATION_STALE"
    fresh = await _preview_token(mcp, "send_campaign", {"campaignId": one["id"]})
    later = datetime.now(UTC) + timedelta(seconds=301)
    monkeypatch.setattr("sendhouse.mcp_tools.campaigns.utcnow", lambda: later)
    expired = await error_of(
        mcp, "send_campaign", {"campaignId": one["id"], "confirmed": True, "confirmationToken": fresh}
    )
    assert expired["code"] == "CONFIRMATION_TOKEN_EXPIRED"
    for campaign in (one, two):
        assert (await call(mcp, "get_campaign", {"campaignId": campaign["id"]}))["status"] == "draft"
    assert await ledger_rows(api) == 0


async def test_send_campaign_preview_names_what_is_missing_and_confirm_is_refused(mcp):
    draft = await call(mcp, "create_campaign", {"name": "Bare", "subject": "S", "htmlTemplate": "<p>x</p>"})
    answer = await call(mcp, "send_campaign", {"campaignId": draft["id"]})
    preview = answer["preview"]
    assert preview["canSend"] is False
    assert {p["field"] for p in preview["problems"]} == {"from", "toLists"}
    error = await error_of(
        mcp,
        "send_campaign",
        {"campaignId": draft["id"], "confirmed": True, "confirmationToken": answer["confirmationToken"]},
    )
    assert error["code"] == "VALIDATION_FAILED" and {d["field"] for d in error["details"]} == {
        "from",
        "toLists",
    }
    assert (await call(mcp, "get_campaign", {"campaignId": draft["id"]}))["status"] == "draft"


async def test_send_test_email_previews_then_queues_transactional_mail(api, mcp):
    draft = await call(mcp, "create_campaign", DRAFT)
    to = [f"qa{i}@example.org" for i in range(10)]
    preview = await call(mcp, "send_test_email", {"campaignId": draft["id"], "emails": to})
    assert preview["confirmed"] is False and preview["preview"]["subject"] == "[Test] Hello {{first_name}}"
    token = preview["confirmationToken"]
    missing = await error_of(
        mcp, "send_test_email", {"campaignId": draft["id"], "emails": to, "confirmed": True}
    )
    other = await error_of(
        mcp,
        "send_test_email",
        {
            "campaignId": draft["id"],
            "emails": [*to[:9], "x@example.org"],
            "confirmed": True,
            "confirmationToken": token,
        },
    )
    assert (missing["code"], other["code"]) == ("CONFIRMATION_TOKEN_REQUIRED", "CONFIRMATION_STALE")
    assert await ledger_rows(api) == 0
    sent = await call(
        mcp,
        "send_test_email",
        {
            "campaignId": draft["id"],
            "emails": list(reversed(to)),
            "confirmed": True,
            "confirmationToken": token,
        },
    )
    assert sent["confirmed"] is True and sent["successCount"] == 10 and len(sent["emailIds"]) == 10
    assert await ledger_rows(api, kind="transactional", status="queued") == 10
    replay = await error_of(
        mcp,
        "send_test_email",
        {"campaignId": draft["id"], "emails": to, "confirmed": True, "confirmationToken": token},
    )
    assert replay["code"] == "CONFIRMATION_TOKEN_USED"  # a token acts once
    assert await ledger_rows(api, kind="transactional", status="queued") == 10
    assert await ledger_rows(api, campaign_id=draft["id"]) == 0
    assert (await call(mcp, "get_campaign", {"campaignId": draft["id"]}))["status"] == "draft"
    too_many = await mcp.call_tool(
        "send_test_email",
        {
            "campaignId": draft["id"],
            "emails": [*to, "x@example.org"],
            "confirmed": True,
            "confirmationToken": token,
        },
    )
    assert too_many.is_error and await ledger_rows(api) == 10
    empty = await mcp.call_tool(
        "send_test_email",
        {"campaignId": draft["id"], "emails": [], "confirmed": True, "confirmationToken": token},
    )
    assert empty.is_error and await ledger_rows(api) == 10
    bad_token = await _preview_token(
        mcp, "send_test_email", {"campaignId": draft["id"], "emails": ["not-an-address"]}
    )
    bad = await error_of(
        mcp,
        "send_test_email",
        {
            "campaignId": draft["id"],
            "emails": ["not-an-address"],
            "confirmed": True,
            "confirmationToken": bad_token,
        },
    )
    assert bad["code"] == "VALIDATION_FAILED" and await ledger_rows(api) == 10


async def test_test_email_needs_a_sender(mcp):
    draft = await call(mcp, "create_campaign", {"name": "N", "subject": "S", "htmlTemplate": "<p>x</p>"})
    error = await error_of(mcp, "send_test_email", {"campaignId": draft["id"], "emails": ["a@example.org"]})
    assert error["code"] == "CAMPAIGN_SENDER_REQUIRED"


async def test_errors_carry_the_api_codes_and_other_projects_are_invisible(api, tenant, other_tenant, mcp):
    assert (await error_of(mcp, "get_campaign", {"campaignId": "f" * 24}))["code"] == "CAMPAIGN_NOT_FOUND"
    theirs = (
        await api.client.post(
            "/v1/campaigns",
            json={"name": "T", "subject": "T", "htmlTemplate": "<p>t</p>"},
            headers=other_tenant.headers,
        )
    ).json()["data"]
    for tool in (
        "get_campaign",
        "update_campaign",
        "delete_campaign",
        "duplicate_campaign",
        "send_campaign",
        "get_campaign_analytics",
    ):
        assert (await error_of(mcp, tool, {"campaignId": theirs["id"]}))["code"] == "CAMPAIGN_NOT_FOUND", tool
    assert (await error_of(mcp, "get_template", {"templateId": "A-" + "0" * 20}))[
        "code"
    ] == "TEMPLATE_NOT_FOUND"
    missing = await error_of(mcp, "create_campaign", {"name": "X", "subject": "Y"})
    assert missing["code"] == "VALIDATION_FAILED" and missing["details"][0]["field"] == "templateId"
    wrong_type = await mcp.call_tool("get_campaign", {"campaignId": 5})
    assert wrong_type.is_error and "campaignId" in wrong_type.content[0].text
    long_name = await mcp.call_tool("create_campaign", {**DRAFT, "name": "n" * 201})
    assert long_name.is_error and (await call(mcp, "list_campaigns"))["campaigns"] == []
    at_limit = await call(mcp, "create_campaign", {**DRAFT, "name": "n" * 200, "subject": "s" * 988})
    assert at_limit["name"] == "n" * 200
    assert (await call(mcp, "get_current_project"))["id"] == tenant.project_id
    assert [p["id"] for p in (await call(mcp, "list_projects"))["projects"]] == [tenant.project_id]
    refused = await error_of(mcp, "switch_project", {"projectId": other_tenant.project_id})
    assert refused["code"] == "INSUFFICIENT_PERMISSIONS"


async def test_duplicate_delete_and_analytics(mcp):
    draft = await call(mcp, "create_campaign", DRAFT)
    copy = await call(mcp, "duplicate_campaign", {"campaignId": draft["id"]})
    assert copy["name"] == "Copy of Launch" and copy["status"] == "draft" and copy["source"] == "mcp"
    analytics = await call(mcp, "get_campaign_analytics", {"campaignId": draft["id"]})
    assert analytics["counts"]["sent"] == 0 and analytics["status"] == "draft"
    assert (await call(mcp, "delete_campaign", {"campaignId": copy["id"]}))["deleted"] is True
    assert (await error_of(mcp, "get_campaign", {"campaignId": copy["id"]}))["code"] == "CAMPAIGN_NOT_FOUND"


async def test_templates_senders_groups_lists_and_properties(mcp):
    made = await call(
        mcp,
        "create_template",
        {"templateName": "Welcome", "subject": "Hi", "emailTemplate": "<p>Hello {{first_name}}</p>"},
    )
    await call(
        mcp,
        "create_template",
        {"templateName": "Receipt", "subject": "Paid", "templateType": "transactional"},
    )
    assert made["templateType"] == "marketing"  # the default of a new template
    assert (await mcp.call_tool("create_template", {"templateName": "No subject"})).is_error
    assert (await mcp.call_tool("create_template", {"templateName": "x" * 91, "subject": "Hi"})).is_error
    found = await call(mcp, "list_templates", {"search": "welc"})
    assert [t["templateId"] for t in found["templates"]] == [made["templateId"]]
    by_type = await call(mcp, "list_templates", {"templateType": "transactional", "limit": 1})
    assert [t["templateName"] for t in by_type["templates"]] == ["Receipt"] and by_type["pagination"][
        "total"
    ] == 1
    paged = await call(mcp, "list_templates", {"limit": 1, "page": 2})
    assert len(paged["templates"]) == 1 and paged["pagination"]["total"] == 2
    assert (await mcp.call_tool("list_templates", {"limit": 101})).is_error
    changed = await call(mcp, "update_template", {"templateId": made["templateId"], "subject": "Hey"})
    assert changed["subject"] == "Hey" and changed["templateName"] == "Welcome"
    broken = await error_of(
        mcp, "update_template", {"templateId": made["templateId"], "emailTemplate": "{{#if x}}"}
    )
    assert broken["code"] == "VALIDATION_FAILED"
    await call(mcp, "delete_template", {"templateId": made["templateId"]})
    assert (await error_of(mcp, "get_template", {"templateId": made["templateId"]}))[
        "code"
    ] == "TEMPLATE_NOT_FOUND"
    sender = (await call(mcp, "create_sender", {"email": "Team@Example.com", "name": "Team"}))["sender"]
    assert (await call(mcp, "get_sender", {"senderId": sender["id"]}))["email"] == "team@example.com"
    assert [s["id"] for s in (await call(mcp, "list_senders"))["senders"]] == [sender["id"]]
    dup = await error_of(mcp, "create_sender", {"email": "team@example.com"})
    assert dup["code"] == "AUTHENTICATED_SENDER_ALREADY_EXISTS"
    group = await call(mcp, "create_suppression_group", {"name": "Newsletter"})
    assert (await call(mcp, "get_suppression_group", {"groupId": group["groupId"]}))["name"] == "Newsletter"
    assert group["groupId"] in [g["groupId"] for g in (await call(mcp, "list_suppression_groups"))["groups"]]
    unknown = await error_of(mcp, "get_suppression_group", {"groupId": "ZZZZZ"})
    assert unknown["code"].endswith("NOT_FOUND")
    made_list = await call(mcp, "create_contact_list", {"name": "VIP"})
    lists = (await call(mcp, "get_lists_and_segments"))["lists"]
    assert [entry["name"] for entry in lists] == ["All Contacts", "VIP"] and lists[1]["id"] == made_list["id"]
    taken = await error_of(mcp, "create_contact_list", {"name": "VIP"})
    assert taken["code"] == "VALIDATION_FAILED"
    props = (await call(mcp, "list_contact_properties"))["contactProperties"]
    assert "email" in {p["name"] for p in props}
    draft = await call(
        mcp,
        "create_campaign",
        {
            **DRAFT,
            "fromEmail": None,
            "fromName": None,
            "fromSenderId": sender["id"],
            "toLists": [made_list["id"]],
            "unsubscribeGroupId": group["groupId"],
        },
    )
    assert draft["from"]["email"] == "team@example.com" and draft["toLists"][0]["id"] == made_list["id"]


async def test_email_activity_counts_the_projects_mail_in_the_range(api, mcp):
    draft = await call(mcp, "create_campaign", DRAFT)
    args = {"campaignId": draft["id"], "emails": ["a@example.org", "b@example.org"]}
    token = await _preview_token(mcp, "send_test_email", args)
    await call(mcp, "send_test_email", {**args, "confirmed": True, "confirmationToken": token})
    now = datetime.now(UTC)
    window = {
        "startDate": (now - timedelta(hours=1)).isoformat(),
        "endDate": (now + timedelta(hours=1)).isoformat(),
    }
    found = await call(mcp, "get_email_activity_analytics", window)
    assert found["counts"]["total"] == 2 and found["counts"]["queued"] == 2 and found["counts"]["sent"] == 0
    only_campaigns = await call(mcp, "get_email_activity_analytics", {**window, "kind": "campaign"})
    assert only_campaigns["counts"]["total"] == 0
    default = await call(mcp, "get_email_activity_analytics")
    assert default["counts"]["total"] == 2
    earlier = {
        "startDate": (now - timedelta(days=3)).isoformat(),
        "endDate": (now - timedelta(days=2)).isoformat(),
    }
    assert (await call(mcp, "get_email_activity_analytics", earlier))["counts"]["total"] == 0
    backwards = await error_of(
        mcp, "get_email_activity_analytics", {"startDate": window["endDate"], "endDate": window["startDate"]}
    )
    assert backwards["code"] == "VALIDATION_FAILED"
    year = {"startDate": "2025-01-01T00:00:00Z", "endDate": "2026-01-02T00:00:00Z"}
    assert (await call(mcp, "get_email_activity_analytics", year))["counts"]["total"] == 0
    beyond = await error_of(mcp, "get_email_activity_analytics", {**year, "endDate": "2026-01-03T00:00:00Z"})
    assert beyond["code"] == "VALIDATION_FAILED"
    garbled = await error_of(mcp, "get_email_activity_analytics", {"startDate": "yesterday"})
    assert garbled["details"][0]["field"] == "startDate"
