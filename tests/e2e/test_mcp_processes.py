"""MCP against real processes, through the SDK's real client: a live `sendhouse serve` (streamable
HTTP at /mcp, a key from `sendhouse keys create`, mail going to an SMTP sink) and the
`sendhouse mcp --project NAME` stdio process. Both databases."""

from __future__ import annotations

import asyncio
import email
import email.policy
import subprocess
import time

import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from tests.e2e.test_cli_and_serve import SENDHOUSE, _env, _free_port, _run, _wait_until_up
from tests.support.smtp_sink import SmtpSink

DRAFT = {
    "name": "Launch",
    "subject": "Spring",
    "htmlTemplate": '<p>Hi {{first_name | "there"}}</p>',
    "fromEmail": "news@example.com",
    "sendToGlobalList": True,
    "sendNow": True,
}


async def data(client, name, args=None):
    result = await client.call_tool(name, args or {})
    assert not result.is_error, result.content
    return result.structured_content["data"]


@pytest.fixture
def live_server(db_url, tmp_path):
    with SmtpSink() as sink:
        env = _env(db_url, tmp_path) | {
            "SENDHOUSE_SMTP_URL": sink.url,
            "SENDHOUSE_SEND_NOW_DELAY": "600",
            "SENDHOUSE_REQUIRE_VERIFIED_DOMAIN": "false",
        }  # unverified test senders
        assert _run(["projects", "create", "default"], env).returncode == 0
        key = _run(["keys", "create", "--project", "default"], env).stdout.strip().splitlines()[-1]
        port = _free_port()
        proc = subprocess.Popen(
            [SENDHOUSE, "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            _wait_until_up(f"http://127.0.0.1:{port}/openapi.json")
            yield f"http://127.0.0.1:{port}", key, sink, env
        finally:
            proc.terminate()
            proc.wait(timeout=20)


def _wait_for_mail(sink, count: int) -> None:
    deadline = time.monotonic() + 60
    while len(sink.messages) < count and time.monotonic() < deadline:
        time.sleep(0.1)


def test_http_list_draft_preview_test_send_and_confirmed_send(live_server):
    base, key, sink, _ = live_server
    headers = {"Authorization": f"Bearer {key}"}
    for email_ in ("ann@example.org", "bob@example.org"):
        assert httpx2.post(f"{base}/v1/contacts", json={"email": email_}, headers=headers).status_code == 200

    async def session():
        # a loaded CI machine can take longer than httpx's 5 s default to answer a tool call
        client = httpx2.AsyncClient(headers=headers, timeout=30)
        async with Client(streamable_http_client(f"{base}/mcp", http_client=client)) as c:
            assert (await data(c, "list_campaigns"))["campaigns"] == []
            draft = await data(c, "create_campaign", DRAFT)
            assert draft["status"] == "draft"
            test_args = {"campaignId": draft["id"], "emails": ["qa@example.org"]}
            token = (await data(c, "send_test_email", test_args))["confirmationToken"]
            test = await data(
                c, "send_test_email", {**test_args, "confirmed": True, "confirmationToken": token}
            )
            previewed = await data(c, "send_campaign", {"campaignId": draft["id"]})
            preview = previewed["preview"]
            assert (await data(c, "get_campaign", {"campaignId": draft["id"]}))["status"] == "draft"
            sent = await data(
                c,
                "send_campaign",
                {
                    "campaignId": draft["id"],
                    "confirmed": True,
                    "confirmationToken": previewed["confirmationToken"],
                },
            )
            missing = await c.call_tool("get_campaign", {"campaignId": "f" * 24})
            return test, preview, sent, missing

    test, preview, sent, missing = asyncio.run(session())
    assert test["successCount"] == 1
    assert preview["audience"]["recipients"] == 2 and preview["canSend"] is True
    assert sent["campaign"]["status"] == "scheduled"
    assert missing.is_error and missing.structured_content["error"]["code"] == "CAMPAIGN_NOT_FOUND"
    _wait_for_mail(sink, 1)
    [received] = sink.messages
    message = email.message_from_bytes(received.data, policy=email.policy.default)
    assert received.rcpt_to == ["qa@example.org"] and message["Subject"] == "[Test] Spring"
    assert "Hi there" in message.get_body(("html",)).get_content()
    api = httpx2.get(f"{base}/v1/campaigns/{sent['campaign']['id']}", headers=headers).json()["data"]
    assert api["status"] == "scheduled" and api["source"] == "mcp"


def test_http_refuses_missing_and_wrong_keys(live_server):
    base, *_ = live_server
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    accept = {"accept": "application/json, text/event-stream"}
    assert httpx2.post(f"{base}/mcp", json=body, headers=accept).status_code == 401
    wrong = accept | {"Authorization": "Bearer AS_0123456789abcdef"}
    assert httpx2.post(f"{base}/mcp", json=body, headers=wrong).status_code == 401

    async def connect():
        async with Client(
            streamable_http_client(f"{base}/mcp", http_client=httpx2.AsyncClient(headers=wrong))
        ) as c:
            await c.list_tools()

    with pytest.raises(ExceptionGroup) as refused:
        asyncio.run(connect())
    assert refused.group_contains(MCPError)


def test_stdio_process_acts_on_the_named_project(live_server):
    base, key, _sink, env = live_server
    params = StdioServerParameters(command=SENDHOUSE, args=["mcp", "--project", "default"], env=env)

    async def session():
        async with Client(params) as c:
            project = await data(c, "get_current_project")
            draft = await data(c, "create_campaign", DRAFT)
            preview = await data(c, "send_campaign", {"campaignId": draft["id"]})
            names = {t.name for t in (await c.list_tools()).tools}
            return project, draft, preview, names

    project, draft, preview, names = asyncio.run(session())
    assert project["name"] == "default" and draft["status"] == "draft"
    assert preview["confirmed"] is False and preview["preview"]["status"] == "draft"
    assert not {"pause_campaign", "resume_campaign", "abort_campaign"} & names
    seen = httpx2.get(f"{base}/v1/campaigns/{draft['id']}", headers={"Authorization": f"Bearer {key}"}).json()
    assert seen["data"]["status"] == "draft" and seen["data"]["source"] == "mcp"
    unknown = subprocess.run(
        [SENDHOUSE, "mcp", "--project", "nope"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert unknown.returncode == 1 and "nope" in unknown.stderr and unknown.stdout == ""
