"""DKIM in the send pipeline: once the project's sender domain is verified with its DKIM record
published, every campaign message the worker sends carries a signature that dkimpy verifies
against the published DNS value; before that, messages go out unsigned."""

from __future__ import annotations

import dkim
import pytest

from tests.support.dns_server import DnsServer, publish
from tests.support.sending_data import campaign_row, container_for, running, start_campaign, wait_for
from tests.support.smtp_sink import SmtpSink


@pytest.fixture
def dns_server():
    with DnsServer() as server:
        yield server


@pytest.fixture
def settings(settings, dns_server):
    return settings.model_copy(
        update={"dns_resolver": dns_server.address, "bounce_domain": "bounces.sendhouse.test"}
    )


async def _sent(container, cid):
    return (await campaign_row(container.db, cid))["status"] == "sent"


async def _send_campaign(settings, project_id: str, prefix: str) -> list:
    with SmtpSink() as sink:
        container = container_for(settings, smtp_url=sink.url, smtp_connections=2)
        try:
            cid = await start_campaign(container.db, project_id, 3, prefix=prefix)
            async with running(container):
                await wait_for(lambda: _sent(container, cid))
        finally:
            await container.close()
    return sink.messages


async def _verified_domain(api, tenant, dns_server) -> bytes:
    added = await api.client.post("/v1/domains", json={"domain": "example.com"}, headers=tenant.headers)
    data = added.json()["data"]
    publish(dns_server, data["dnsRecords"])
    verified = await api.client.post(f"/v1/domains/{data['id']}/verify", headers=tenant.headers)
    assert verified.json()["data"]["dkimEnabled"] is True, verified.text
    return data["dnsRecords"]["dkim"]["value"].encode()


async def test_campaign_mail_is_dkim_signed_once_the_domain_is_verified(api, tenant, settings, dns_server):
    unsigned = await _send_campaign(settings, tenant.project_id, "before")
    assert len(unsigned) == 3 and all(b"DKIM-Signature:" not in m.data for m in unsigned)
    record = await _verified_domain(api, tenant, dns_server)
    signed = await _send_campaign(settings, tenant.project_id, "after")
    assert len(signed) == 3
    for message in signed:
        assert (
            message.data.startswith(b"DKIM-Signature: v=1; a=rsa-sha256;")
            and b"d=example.com;" in message.data
        )
        assert dkim.verify(message.data, dnsfunc=lambda name, timeout=5: record)
        tampered = message.data.replace(b"Hello User", b"Hello Mallory")
        assert not dkim.verify(tampered, dnsfunc=lambda name, timeout=5: record)
