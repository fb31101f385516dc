"""Receiving mail, on both databases: enabling inbound on a domain (MX record in its
records), mail sent with smtplib to an enabled domain or a project's default address stored whole
with SPF/DKIM/DMARC verdicts checked against a local DNS server, threads, the email.received
webhook, and refusals (unrouted 550, oversized 552) that store nothing."""

from __future__ import annotations

import asyncio
import smtplib

import pytest
import sqlalchemy as sa

from sendhouse.domain import tokens
from sendhouse.smtpd import inbound as receiver
from sendhouse.store.schema.inbound import inbound_messages
from tests.support.dns_server import DnsServer
from tests.support.feedback_data import deliveries, inbound_receiver
from tests.support.inbound_data import (
    BOUNCE_DOMAIN,
    SenderDomain,
    message,
    receiving_domain,
    smtp_send,
    subscribe_to_received,
    swaks,
)


@pytest.fixture
def dns_server():
    with DnsServer() as server:
        yield server


@pytest.fixture
def settings(settings, dns_server):
    return settings.model_copy(update={"dns_resolver": dns_server.address, "bounce_domain": BOUNCE_DOMAIN})


async def stored_count(api) -> int:
    async with api.db.read() as conn:
        return (await conn.execute(sa.select(sa.func.count()).select_from(inbound_messages))).scalar()


async def inbox(api, tenant, **params) -> list[dict]:
    response = await api.client.get("/v1/inbound/messages", params=params, headers=tenant.headers)
    assert response.status_code == 200, response.text
    return response.json()["data"]["items"]


async def full(api, tenant, message_id: str) -> dict:
    response = await api.client.get(f"/v1/inbound/messages/{message_id}", headers=tenant.headers)
    assert response.status_code == 200, response.text
    return response.json()["data"]


# --- enable / disable -----------------------------------------------------------------------


async def test_enable_shows_the_mx_record_and_disable_removes_it(api, tenant, dns_server):
    domain = await receiving_domain(api, tenant, dns_server, "example.com")
    assert domain["dnsRecords"]["inboundMx"] == {
        "name": "example.com",
        "value": BOUNCE_DOMAIN,
        "type": "MX",
        "purpose": "inbound",
        "priority": 10,
    }
    assert domain["inboundEnabledAt"] and domain["inboundDomainVerifiedAt"]
    again = (await api.client.get(f"/v1/domains/{domain['id']}", headers=tenant.headers)).json()["data"]
    assert again["dnsRecords"]["inboundMx"]["value"] == BOUNCE_DOMAIN
    off = await api.client.post(f"/v1/domains/{domain['id']}/inbound/disable", headers=tenant.headers)
    assert off.status_code == 200
    data = off.json()["data"]
    assert data["inboundEnabledAt"] is None and data["inboundDomainVerifiedAt"] is None
    assert "inboundMx" not in data["dnsRecords"]


async def test_enable_refuses_an_unverified_domain_and_other_projects(api, tenant, other_tenant, dns_server):
    added = (
        await api.client.post("/v1/domains", json={"domain": "fresh.com"}, headers=tenant.headers)
    ).json()
    path = f"/v1/domains/{added['data']['id']}/inbound/enable"
    refused = await api.client.post(path, headers=tenant.headers)
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "DOMAIN_NOT_VERIFIED"
    assert (await api.client.post(path, headers=other_tenant.headers)).status_code == 404
    assert (await api.client.post(path)).status_code == 401
    missing = await api.client.post("/v1/domains/" + "0" * 24 + "/inbound/enable", headers=tenant.headers)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "DOMAIN_NOT_FOUND"
    assert (
        await api.client.post(path.replace("enable", "disable"), headers=other_tenant.headers)
    ).status_code == 404


async def test_an_enabled_domain_name_cannot_be_enabled_by_a_second_project(
    api, tenant, other_tenant, dns_server
):
    await receiving_domain(api, tenant, dns_server, "shared.com")
    added = (
        await api.client.post("/v1/domains", json={"domain": "shared.com"}, headers=other_tenant.headers)
    ).json()
    async with api.db.write() as conn:
        from sendhouse.store.schema.content import domains

        await conn.execute(
            domains.update().where(domains.c.id == added["data"]["id"]).values(verification_status="VERIFIED")
        )
    taken = await api.client.post(
        f"/v1/domains/{added['data']['id']}/inbound/enable", headers=other_tenant.headers
    )
    assert taken.status_code == 409 and taken.json()["error"]["code"] == "INBOUND_DOMAIN_TAKEN"


# --- receiving ------------------------------------------------------------------------------


async def test_signed_mail_to_an_enabled_domain_is_stored_with_passing_verdicts_and_announced(
    api, tenant, container, dns_server
):
    await receiving_domain(api, tenant, dns_server, "example.com")
    await subscribe_to_received(api.db, tenant.project_id)
    sender = SenderDomain(dns_server)
    raw = sender.sign(
        message(
            sender="Alice <alice@sender.org>",
            to="Support <support@example.com>",
            subject="Help please",
            html="<p>Hi <b>there</b></p>",
        )
    )
    async with inbound_receiver(container) as (_h, port):
        assert await smtp_send(port, "alice@sender.org", ["support@example.com"], raw) == {}
    [item] = await inbox(api, tenant)
    got = await full(api, tenant, item["id"])
    assert (got["spfVerdict"], got["dkimVerdict"], got["dmarcVerdict"]) == ("PASS", "PASS", "PASS")
    assert (
        got["status"] == "PROCESSED" and got["threadId"] == got["id"] and got["domainName"] == "example.com"
    )
    assert got["from"] == {"email": "alice@sender.org", "name": "Alice"}
    assert got["to"] == [{"email": "support@example.com", "name": "Support"}]
    assert got["subject"] == "Help please" and got["text"].strip() == "Hi there."
    assert got["html"].strip() == "<p>Hi <b>there</b></p>" and got["headers"]["subject"] == "Help please"
    raw_back = await api.client.get(
        f"/v1/inbound/messages/{got['id']}/raw", params={"download": "true"}, headers=tenant.headers
    )
    assert raw_back.content == raw
    [(event, data)] = await deliveries(api.db, tenant.project_id)
    assert event == "email.received" and data["inboundEmailId"] == got["id"]
    assert data["from"]["email"] == "alice@sender.org" and data["subject"] == "Help please"


async def test_forged_mail_fails_spf_dkim_and_dmarc(api, tenant, container, dns_server):
    await receiving_domain(api, tenant, dns_server, "example.com")
    sender = SenderDomain(dns_server, spf_ip="192.0.2.1")
    raw = sender.sign(
        message(sender="alice@sender.org", to="support@example.com", text="Pay this invoice.\n")
    )
    raw = raw.replace(b"Pay this invoice.", b"Pay that invoice.")  # the body changed after signing
    async with inbound_receiver(container) as (_h, port):
        await smtp_send(port, "alice@sender.org", ["support@example.com"], raw)
    [item] = await inbox(api, tenant)
    got = await full(api, tenant, item["id"])
    assert (got["spfVerdict"], got["dkimVerdict"], got["dmarcVerdict"]) == ("FAIL", "FAIL", "FAIL")


async def test_unsigned_mail_from_a_domain_without_policy_is_gray(api, tenant, container, dns_server):
    await receiving_domain(api, tenant, dns_server, "example.com")
    async with inbound_receiver(container) as (_h, port):
        await smtp_send(
            port,
            "bob@nowhere.test",
            ["support@example.com"],
            message(sender="bob@nowhere.test", to="support@example.com"),
        )
    [item] = await inbox(api, tenant)
    got = await full(api, tenant, item["id"])
    assert (got["spfVerdict"], got["dkimVerdict"], got["dmarcVerdict"]) == ("GRAY", "GRAY", "GRAY")


async def test_the_project_default_address_receives_without_any_domain(api, tenant, other_tenant, container):
    address = f"anything@{tenant.project_id}.{BOUNCE_DOMAIN}"
    async with inbound_receiver(container) as (_h, port):
        await smtp_send(port, "bob@nowhere.test", [address], message(sender="bob@nowhere.test", to=address))
    [item] = await inbox(api, tenant)
    assert item["domainName"] == f"{tenant.project_id}.{BOUNCE_DOMAIN}" and item["status"] == "PROCESSED"
    assert await inbox(api, other_tenant) == []


async def test_unrouted_recipients_are_refused_at_rcpt_and_nothing_is_stored(
    api, tenant, container, dns_server
):
    domain = await receiving_domain(api, tenant, dns_server, "example.com")
    await api.client.post(f"/v1/domains/{domain['id']}/inbound/disable", headers=tenant.headers)
    raw = message(sender="bob@nowhere.test", to="x@example.com")
    async with inbound_receiver(container) as (_h, port):
        for rcpt in ("x@example.com", "x@unknown.org", f"x@{'f' * 24}.{BOUNCE_DOMAIN}", f"x@{BOUNCE_DOMAIN}"):
            with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
                await smtp_send(port, "bob@nowhere.test", [rcpt], raw)
            assert refused.value.recipients[rcpt][0] == 550
    assert await stored_count(api) == 0


async def test_an_oversized_message_is_refused_with_552(api, tenant, container, dns_server, monkeypatch):
    monkeypatch.setattr(receiver, "MAX_MESSAGE_BYTES", 300_000)
    await receiving_domain(api, tenant, dns_server, "example.com")
    big = message(
        sender="bob@nowhere.test",
        to="x@example.com",
        attachments=(("big.bin", "application/octet-stream", b"\x01" * 400_000),),
    )
    async with inbound_receiver(container) as (_h, port):
        with pytest.raises(
            (smtplib.SMTPSenderRefused, smtplib.SMTPDataError)
        ) as refused:  # SIZE=, or at DATA
            await smtp_send(port, "bob@nowhere.test", ["x@example.com"], big)
    assert refused.value.smtp_code == 552
    assert await stored_count(api) == 0


async def test_mail_before_the_mx_is_seen_is_blocked_unverified(api, tenant, container, dns_server):
    await receiving_domain(api, tenant, dns_server, "example.com", mx=False)
    await subscribe_to_received(api.db, tenant.project_id)
    async with inbound_receiver(container) as (_h, port):
        await smtp_send(
            port,
            "bob@nowhere.test",
            ["x@example.com"],
            message(sender="bob@nowhere.test", to="x@example.com"),
        )
    assert await inbox(api, tenant) == []
    [blocked] = await inbox(api, tenant, includeBlocked="true")
    assert blocked["status"] == "BLOCKED_UNVERIFIED"
    assert await deliveries(api.db, tenant.project_id) == []


async def test_a_reply_by_mail_joins_the_thread_of_the_message_it_answers(api, tenant, container, dns_server):
    await receiving_domain(api, tenant, dns_server, "example.com")
    first = message(
        sender="bob@nowhere.test", to="x@example.com", subject="Question", message_id="<q1@nowhere.test>"
    )
    second = message(
        sender="bob@nowhere.test",
        to="x@example.com",
        subject="Re: Question",
        headers={"In-Reply-To": "<q1@nowhere.test>", "References": "<q1@nowhere.test>"},
    )
    async with inbound_receiver(container) as (_h, port):
        await smtp_send(port, "bob@nowhere.test", ["x@example.com"], first)
        await smtp_send(port, "bob@nowhere.test", ["x@example.com", "x@example.com"], second)
    newer, older = await inbox(api, tenant)
    got = await full(api, tenant, newer["id"])
    assert got["threadId"] == older["id"] and got["inReplyToInboundEmailId"] == older["id"]
    assert got["inReplyTo"] == "<q1@nowhere.test>"
    assert [i["id"] for i in await inbox(api, tenant, threadId=older["id"])] == [newer["id"], older["id"]]


async def test_swaks_delivers_to_the_default_address(api, tenant, container):
    address = f"desk@{tenant.project_id}.{BOUNCE_DOMAIN}"
    async with inbound_receiver(container) as (_h, port):
        done = await asyncio.to_thread(
            swaks,
            "--server",
            "127.0.0.1",
            "--port",
            str(port),
            "--from",
            "bob@nowhere.test",
            "--to",
            address,
            "--header",
            "Subject: Via swaks",
        )
        refused = await asyncio.to_thread(
            swaks,
            "--server",
            "127.0.0.1",
            "--port",
            str(port),
            "--from",
            "bob@nowhere.test",
            "--to",
            "desk@elsewhere.test",
        )
    assert done.returncode == 0, done.stdout + done.stderr
    [item] = await inbox(api, tenant)
    assert item["subject"] == "Via swaks" and item["to"] == [{"email": address, "name": None}]
    assert refused.returncode != 0 and "550 5.1.1" in refused.stdout


def _two_on_one_connection(port: int, report_rcpt: str, report: bytes, inbox_rcpt: str, mail: bytes) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        client.sendmail("", [report_rcpt], report)
        client.sendmail("bob@nowhere.test", [inbox_rcpt], mail)  # SIZE= above the report cap


async def test_the_report_cap_does_not_stick_to_the_next_message_on_the_connection(api, tenant, container):
    address = f"desk@{tenant.project_id}.{BOUNCE_DOMAIN}"
    report_rcpt = tokens.bounce_address("test-secret-key", "f" * 24, BOUNCE_DOMAIN)
    big = message(
        sender="bob@nowhere.test",
        to=address,
        attachments=(("a.bin", "application/octet-stream", b"\x03" * 400_000),),
    )
    async with inbound_receiver(container) as (_h, port):
        await asyncio.to_thread(
            _two_on_one_connection, port, report_rcpt, b"Subject: x\r\n\r\nx\r\n", address, big
        )
    [item] = await inbox(api, tenant)
    assert item["attachmentCount"] == 1
