"""Inbound statuses on both databases (services/inbound_receive): a message is stored first as
PROCESSING, then becomes PROCESSED, FAILED (it cannot be parsed: listed and readable, raw kept, no
webhook) or BLOCKED_UNROUTED (its domain's inbound was disabled between RCPT TO and DATA: listed
only with includeBlocked, no webhook, no reply). A message left PROCESSING (the process died after
storing it, or processing it failed after the 250) is processed again by the housekeeping duty,
exactly once; one PROCESSING for too long, or whose processing fails again, becomes FAILED."""

from __future__ import annotations

import asyncio
import smtplib
from datetime import timedelta

import pytest

from sendhouse import housekeeping
from sendhouse.domain import inbound_mail as rules
from sendhouse.domain.times import utcnow
from sendhouse.runtime import running
from sendhouse.services import inbound_receive
from sendhouse.store import inbound as inbound_store
from tests.support.dns_server import DnsServer
from tests.support.feedback_data import deliveries, inbound_receiver
from tests.support.inbound_data import (
    BOUNCE_DOMAIN,
    message,
    receiving_domain,
    smtp_send,
    subscribe_to_received,
)
from tests.support.sending_data import wait_for

# The stdlib's header parser raises IndexError on this To: header (domain/inbound_mail.parse
# lets it through; services/inbound_receive keeps the message as FAILED).
UNPARSABLE = (
    b"From: bob@nowhere.test\r\nTo: =?utf-8?b?@@@?= <\r\nSubject: broken\r\n"
    b"Message-ID: <broken-1@nowhere.test>\r\n\r\nThis cannot be parsed.\r\n"
)


@pytest.fixture
def dns_server():
    with DnsServer() as server:
        yield server


@pytest.fixture
def settings(settings, dns_server):
    return settings.model_copy(update={"dns_resolver": dns_server.address, "bounce_domain": BOUNCE_DOMAIN})


async def listed(api, tenant, **params) -> list[dict]:
    response = await api.client.get("/v1/inbound/messages", params=params, headers=tenant.headers)
    assert response.status_code == 200, response.text
    return response.json()["data"]["items"]


async def full(api, tenant, message_id: str) -> dict:
    response = await api.client.get(f"/v1/inbound/messages/{message_id}", headers=tenant.headers)
    assert response.status_code == 200, response.text
    return response.json()["data"]


def default_address(tenant) -> str:
    return f"in@{tenant.project_id}.{BOUNCE_DOMAIN}"


async def store_only(api, tenant, raw: bytes) -> str:
    """What a process killed between storing and parsing leaves: the PROCESSING row alone."""
    rcpt = default_address(tenant)
    envelope = inbound_receive.Envelope("bob@nowhere.test", (rcpt,), "127.0.0.1", "client.nowhere.test")
    route = await inbound_receive.route(api.db, api.container.settings, rcpt)
    [stored] = await inbound_receive.store_received(api.db, envelope, raw, [route])
    return stored.id


def with_attachment(subject: str = "Order 7") -> bytes:
    return message(
        sender="Bob <bob@nowhere.test>",
        to="in@x.test",
        subject=subject,
        attachments=(("a.txt", "text/plain", b"attached"),),
    )


async def test_a_message_that_cannot_be_parsed_ends_failed_listed_and_readable(api, tenant, container):
    with pytest.raises(IndexError):
        rules.parse(UNPARSABLE)
    await subscribe_to_received(api.db, tenant.project_id)
    async with inbound_receiver(container) as (_h, port):
        await smtp_send(port, "bob@nowhere.test", [default_address(tenant)], UNPARSABLE)
    [item] = await listed(api, tenant)
    assert item["status"] == "FAILED"
    got = await full(api, tenant, item["id"])
    assert got["status"] == "FAILED" and got["domainName"] == f"{tenant.project_id}.{BOUNCE_DOMAIN}"
    raw = await api.client.get(
        f"/v1/inbound/messages/{item['id']}/raw", params={"download": "true"}, headers=tenant.headers
    )
    assert raw.content == UNPARSABLE
    assert await deliveries(api.db, tenant.project_id) == []


async def test_a_domain_disabled_between_rcpt_and_data_keeps_the_message_blocked_unrouted(
    api, tenant, container, dns_server
):
    domain = await receiving_domain(api, tenant, dns_server, "example.com")
    await subscribe_to_received(api.db, tenant.project_id)
    raw = message(sender="bob@nowhere.test", to="x@example.com", subject="Late")
    async with inbound_receiver(container) as (_h, port):
        client = await asyncio.to_thread(smtplib.SMTP, "127.0.0.1", port, timeout=30)
        try:
            await asyncio.to_thread(client.ehlo, "client.nowhere.test")
            assert (await asyncio.to_thread(client.mail, "bob@nowhere.test"))[0] == 250
            assert (await asyncio.to_thread(client.rcpt, "x@example.com"))[0] == 250
            disabled = await api.client.post(
                f"/v1/domains/{domain['id']}/inbound/disable", headers=tenant.headers
            )
            assert disabled.status_code == 200
            code, _text = await asyncio.to_thread(client.data, raw)
            assert code == 250
        finally:
            await asyncio.to_thread(client.quit)
    assert await listed(api, tenant) == []
    [item] = await listed(api, tenant, includeBlocked="true")
    assert item["status"] == "BLOCKED_UNROUTED" and item["subject"] == "Late"
    assert (await full(api, tenant, item["id"]))["status"] == "BLOCKED_UNROUTED"
    reply = await api.client.post(
        f"/v1/inbound/messages/{item['id']}/reply",
        json={"from": {"email": "me@example.com"}, "text": "hi"},
        headers=tenant.headers,
    )
    assert reply.status_code == 404
    assert await deliveries(api.db, tenant.project_id) == []


async def test_a_message_left_processing_by_a_crash_is_processed_by_housekeeping(
    api, tenant, container, monkeypatch
):
    await subscribe_to_received(api.db, tenant.project_id)
    stored = await store_only(api, tenant, with_attachment())
    [item] = await listed(api, tenant)
    assert item["id"] == stored and item["status"] == "PROCESSING" and item["attachmentCount"] == 0
    assert (await full(api, tenant, stored))["status"] == "PROCESSING"
    # a fresh PROCESSING row may still be in the hands of the process that stored it
    assert await inbound_receive.recover(api.db, api.container.settings, utcnow()) == 0
    assert (await full(api, tenant, stored))["status"] == "PROCESSING"
    monkeypatch.setattr(inbound_receive, "STALE_AFTER", timedelta(0))
    keeper = housekeeping.Housekeeper(container, inbound_every=0.05)
    async with running(keeper, grace=10):
        got = await wait_for(lambda: _processed(api, tenant, stored))
    assert got["subject"] == "Order 7" and got["from"] == {"email": "bob@nowhere.test", "name": "Bob"}
    assert [a["filename"] for a in got["attachments"]] == ["a.txt"]
    assert got["threadId"] == stored and got["spfVerdict"] in ("PASS", "FAIL", "GRAY", "PROCESSING_FAILED")
    [(event, data)] = await deliveries(api.db, tenant.project_id)
    assert event == "email.received" and data["inboundEmailId"] == stored
    assert await inbound_receive.recover(api.db, api.container.settings, utcnow()) == 0


async def _processed(api, tenant, message_id: str) -> dict | None:
    got = await full(api, tenant, message_id)
    return got if got["status"] != "PROCESSING" else None


async def test_a_failure_after_storing_still_answers_250_and_housekeeping_finishes_it(
    api, tenant, container, monkeypatch
):
    original = inbound_receive.process

    async def dies(*args, **kwargs):
        raise RuntimeError("the process died here")

    monkeypatch.setattr(inbound_receive, "process", dies)
    async with inbound_receiver(container) as (_h, port):
        refused = await smtp_send(port, "bob@nowhere.test", [default_address(tenant)], with_attachment())
    assert refused == {}
    [item] = await listed(api, tenant)
    assert item["status"] == "PROCESSING"
    monkeypatch.setattr(inbound_receive, "process", original)
    later = utcnow() + inbound_receive.STALE_AFTER + timedelta(seconds=1)
    assert await inbound_receive.recover(api.db, api.container.settings, later) == 1
    got = await full(api, tenant, item["id"])
    assert got["status"] == "PROCESSED" and [a["filename"] for a in got["attachments"]] == ["a.txt"]


async def test_processing_happens_once_even_when_two_processes_race(api, tenant):
    await subscribe_to_received(api.db, tenant.project_id)
    stored = await store_only(api, tenant, with_attachment())
    async with api.db.read() as conn:
        row = await inbound_store.processing_message(conn, stored)
    item = inbound_receive.Stored(
        row["id"], row["project_id"], row["envelope"], row["raw"], row["received_at"]
    )
    settings = api.container.settings
    await asyncio.gather(*(inbound_receive.process(api.db, settings, [item]) for _ in range(3)))
    got = await full(api, tenant, stored)
    assert got["status"] == "PROCESSED" and len(got["attachments"]) == 1
    assert len(await deliveries(api.db, tenant.project_id)) == 1


async def test_processing_for_too_long_or_failing_again_ends_failed(api, tenant, monkeypatch):
    ancient = await store_only(api, tenant, with_attachment("Ancient"))
    later = utcnow() + inbound_receive.GIVE_UP_AFTER + timedelta(seconds=1)
    assert await inbound_receive.recover(api.db, api.container.settings, later) == 1
    assert (await full(api, tenant, ancient))["status"] == "FAILED"

    async def broken(*args, **kwargs):
        raise RuntimeError("cannot judge this message")

    doomed = await store_only(api, tenant, with_attachment("Doomed"))
    monkeypatch.setattr(inbound_receive, "_judge", broken)
    later = utcnow() + inbound_receive.STALE_AFTER + timedelta(seconds=1)
    assert await inbound_receive.recover(api.db, api.container.settings, later) == 1
    assert (await full(api, tenant, doomed))["status"] == "FAILED"
    assert await inbound_receive.recover(api.db, api.container.settings, later) == 0
