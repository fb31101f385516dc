"""GET /metrics and /healthz over HTTP, on SQLite and PostgreSQL, after a real campaign went through a
real worker and an aiosmtpd relay (sent, deferred, failed + bounced); the delivery log events."""

from __future__ import annotations

import logging

import httpx2
from prometheus_client.parser import text_string_to_metric_families

from sendhouse.app import create_app
from sendhouse.bootstrap import Container
from sendhouse.domain.ratelimit import RateLimiter
from sendhouse.store.db import Database
from tests.support.sending_data import container_for, ledger_counts, running, start_campaign, wait_for
from tests.support.smtp_sink import SmtpSink, free_port


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    """Every sample of an exposition, keyed by (name, labels)."""
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(found: dict, name: str, **labels) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


async def scrape(api) -> dict:
    response = await api.client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return samples(response.text)


def _reply(address: str) -> str | None:
    if address.startswith("user1@"):
        return "550 5.1.1 no such user"
    if address.startswith("user2@"):
        return "451 4.3.0 try later"
    return None


async def _deliver(settings, project_id: str) -> str:
    """A 6-recipient campaign through a real worker: 4 sent, 1 failed (550), 1 deferred (451)."""
    with SmtpSink(rcpt_reply=_reply) as sink:
        container = container_for(settings, smtp_url=sink.url, retry_base_seconds=600)
        try:
            cid = await start_campaign(container.db, project_id, 6)
            done = {"sent": 4, "failed": 1, "deferred": 1}
            async with running(container, scheduler=False):
                await wait_for(lambda: _reached(container, cid, done))
        finally:
            await container.close()
    return cid


async def _reached(container, cid, want) -> bool:
    counts = await ledger_counts(container.db, cid)
    return all(counts[k] == v for k, v in want.items())


async def test_empty_database_exposes_every_family(api):
    found = await scrape(api)
    names = {name for name, _ in found}
    assert value(found, "sendhouse_message_feedback", type="bounced") == 0
    assert not any(name == "sendhouse_messages" for name in names)  # no rows, no series
    response = await api.client.get("/metrics")
    for family in (
        "sendhouse_messages",
        "sendhouse_campaign_messages_pending",
        "sendhouse_worker_claim_seconds",
        "sendhouse_smtp_send_seconds",
        "sendhouse_api_request_seconds",
    ):
        assert f"# HELP {family} " in response.text


async def test_counts_come_from_the_ledger_after_a_real_send(api, tenant, settings, caplog):
    caplog.set_level(logging.INFO, logger="sendhouse")
    before = await scrape(api)
    cid = await _deliver(settings, tenant.project_id)
    found = await scrape(api)
    for status, count in {"sent": 4, "failed": 1, "deferred": 1}.items():
        assert value(found, "sendhouse_messages", kind="campaign", status=status) == count
    assert value(found, "sendhouse_message_feedback", type="bounced") == 1
    assert (
        value(
            found,
            "sendhouse_campaign_messages_pending",
            project_id=tenant.project_id,
            campaign_id=cid,
            status="deferred",
        )
        == 1
    )
    for outcome, count in {"sent": 4, "permanent": 1, "transient": 1}.items():
        name = "sendhouse_smtp_send_seconds_count"
        assert value(found, name, outcome=outcome) - value(before, name, outcome=outcome) == count
    assert value(found, "sendhouse_worker_claim_seconds_count") > value(
        before, "sendhouse_worker_claim_seconds_count"
    )
    actions = [(r.action, r.campaign_id) for r in caplog.records if r.name == "sendhouse.delivery"]
    assert sorted(a for a, c in actions if c == cid) == (
        ["message_bounced", "message_deferred", "message_failed"] + ["message_sent"] * 4
    )


async def test_counts_survive_a_restart(api, tenant, settings, container):
    await _deliver(settings, tenant.project_id)
    first = await scrape(api)
    fresh = create_app(container=container)  # a new process would build the same from the database
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=fresh), base_url="http://x") as client:
        again = samples((await client.get("/metrics")).text)
    for status in ("sent", "failed", "deferred"):
        assert (
            value(again, "sendhouse_messages", kind="campaign", status=status)
            == value(first, "sendhouse_messages", kind="campaign", status=status)
            > 0
        )


async def test_queued_rows_per_campaign(api, tenant, settings):
    cid = await start_campaign(api.db, tenant.project_id, 7)  # started, no worker running
    found = await scrape(api)
    assert (
        value(
            found,
            "sendhouse_campaign_messages_pending",
            project_id=tenant.project_id,
            campaign_id=cid,
            status="queued",
        )
        == 7
    )
    assert value(found, "sendhouse_messages", kind="campaign", status="queued") == 7


async def test_api_latency_is_labelled_by_route_template(api, tenant, caplog):
    caplog.set_level(logging.INFO, logger="sendhouse.api")
    name = "sendhouse_api_request_seconds_count"
    before = await scrape(api)
    for _ in range(3):
        missing = await api.client.get("/v1/campaigns/" + "0" * 24, headers=tenant.headers)
        assert missing.status_code == 404
    await api.client.get("/no/such/path")
    found = await scrape(api)
    route = "/v1/campaigns/{campaign_id}"
    assert (
        value(found, name, method="GET", route=route, status="4xx")
        - value(before, name, method="GET", route=route, status="4xx")
        == 3
    )
    assert value(found, name, method="GET", route="unmatched", status="4xx") > 0
    assert "0" * 24 not in (await api.client.get("/metrics")).text
    logged = [r for r in caplog.records if getattr(r, "action", None) == "api_request" and r.route == route]
    assert [(r.method, r.status) for r in logged] == [("GET", 404)] * 3


async def test_oversized_bodies_are_observed_too(api, tenant):
    name = "sendhouse_api_request_seconds_count"
    before = await scrape(api)
    limit = api.container.settings.max_body_bytes
    big = await api.client.post("/v1/contacts", content=b"x" * (limit + 1), headers=tenant.headers)
    assert big.status_code == 413
    found = await scrape(api)
    assert (
        value(found, name, method="POST", route="unmatched", status="4xx")
        - value(before, name, method="POST", route="unmatched", status="4xx")
        == 1
    )


async def test_healthz_answers_when_the_database_does(api):
    response = await api.client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["data"]["status"] == "ok"


async def test_healthz_is_503_when_the_database_is_gone(settings):
    dead = Database(f"postgresql://nobody@127.0.0.1:{free_port()}/none")
    app = create_app(container=Container(settings=settings, db=dead, rate_limiter=RateLimiter(10)))
    try:
        async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://x") as client:
            response = await client.get("/healthz")
    finally:
        await dead.close()
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "UNHEALTHY"
