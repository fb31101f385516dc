"""Every documented deployment, as real processes on SQLite and PostgreSQL: `serve` alone, and
`serve --no-worker` beside `sendhouse worker`. In each, a campaign created over HTTP is sent to a
real SMTP server, its `email.sent` webhooks reach a real HTTP receiver, and every background duty
of the table (sendhouse.roles.DUTIES) was started by exactly one of the deployment's processes
(delivery: by every worker process)."""

from __future__ import annotations

import signal
from collections import Counter

import httpx2
import pytest

from sendhouse.roles import DEPLOYMENTS, DUTIES
from sendhouse.services import projects as project_service
from tests.support.http_receiver import HttpReceiver
from tests.support.processes import Sendhouse, sendhouse_env, wait_until_up
from tests.support.sending_data import seed_list, wait_for
from tests.support.smtp_sink import SmtpSink, free_port

RECIPIENTS = 6
WORKERS = 2  # worker processes of `serve`; `sendhouse worker` is one


def _args(command: str, port: int) -> list[str]:
    """The command line of one of roles.COMMANDS (the `serve` ones listen on `port`)."""
    args = command.split()
    return [*args, "--port", str(port)] if args[0] == "serve" else args


async def _tenant(container) -> tuple[str, str, str]:
    """(project id, key, list id) of a project with a list of RECIPIENTS contacts."""
    project = await project_service.create_project(container.db, name="shop")
    _, key = await project_service.create_api_key(container.db, project_id=project["id"])
    return project["id"], key, await seed_list(container.db, project["id"], RECIPIENTS)


def _start_campaign(client: httpx2.Client, hook_url: str, list_id: str) -> str:
    hook = client.post("/v1/webhooks", json={"url": hook_url, "events": ["email.sent"]})
    assert hook.status_code in (200, 201), hook.text
    body = {
        "name": "Launch",
        "subject": "Hello",
        "htmlTemplate": "<p>Hi {{first_name}}</p>",
        "from": {"email": "news@example.com"},
        "toLists": [list_id],
        "sendNow": True,
    }
    created = client.post("/v1/campaigns", json=body)
    assert created.status_code in (200, 201), created.text
    return created.json()["data"]["id"]


async def _campaign_sent(client: httpx2.Client, campaign_id: str) -> bool:
    return client.get(f"/v1/campaigns/{campaign_id}").json()["data"]["status"] == "sent"


def _duties_started(processes: list[Sendhouse]) -> list[str]:
    return [
        line["duty"] for proc in processes for line in proc.json_logs() if line["action"] == "duty_started"
    ]


@pytest.mark.parametrize("deployment", sorted(DEPLOYMENTS))
async def test_deployment_sends_campaigns_and_delivers_webhooks(deployment, settings, container):
    _project_id, key, list_id = await _tenant(container)
    port = free_port()
    with SmtpSink() as sink, HttpReceiver() as receiver:
        env = sendhouse_env(
            settings,
            SENDHOUSE_SMTP_URL=sink.url,
            SENDHOUSE_SEND_NOW_DELAY=0,
            SENDHOUSE_REQUIRE_VERIFIED_DOMAIN="false",
            SENDHOUSE_INBOUND_SMTP=f"127.0.0.1:{free_port()}",
            SENDHOUSE_WORKERS=WORKERS,
        )
        processes = [Sendhouse(_args(command, port), env) for command in DEPLOYMENTS[deployment]]
        try:
            wait_until_up(f"http://127.0.0.1:{port}/healthz", processes[0])
            with httpx2.Client(
                base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {key}"}, timeout=10
            ) as client:
                campaign_id = _start_campaign(client, receiver.url(), list_id)
                await wait_for(lambda: _campaign_sent(client, campaign_id), timeout=30, every=0.2)
                hooks = await receiver.arrived(RECIPIENTS, timeout=30)
        finally:
            codes = [proc.stop() for proc in processes]
    assert sorted(r for m in sink.messages for r in m.rcpt_to) == sorted(
        f"user{i}@example.com" for i in range(RECIPIENTS)
    )
    assert len(hooks) == RECIPIENTS and {h.headers["X-Webhook-Event"] for h in hooks} == {"email.sent"}
    for i in range(RECIPIENTS):
        assert sum(f"user{i}@example.com".encode() in h.body for h in hooks) == 1
    workers = WORKERS if "serve" in DEPLOYMENTS[deployment] else 1
    assert Counter(_duties_started(processes)) == {d.name: 1 if d.once else workers for d in DUTIES}
    assert set(codes) <= {0, -signal.SIGTERM}, [
        proc.tail() for proc in processes
    ]  # uvicorn re-raises SIGTERM
