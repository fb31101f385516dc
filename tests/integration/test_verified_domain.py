"""Verified domains are required by default whenever mail goes to a real relay: senders, `from` on
/mails/send, /mails/bulk and campaigns (create and PATCH), on both databases. With `capture` (the
default transport) the rule is off unless SENDHOUSE_REQUIRE_VERIFIED_DOMAIN turns it on."""

from __future__ import annotations

import pytest

from tests.integration.test_campaigns_api import BASE, seed_content
from tests.integration.test_mails_bulk_status import bulk
from tests.integration.test_mails_send import ledger, mail
from tests.support.dns_server import DnsServer, publish
from tests.support.smtp_sink import free_port

SENDER_MESSAGE = "A verified domain is required before adding an authenticated sender"


@pytest.fixture
def dns_server():
    with DnsServer() as server:
        yield server


@pytest.fixture
def settings(settings, dns_server):
    """A real relay (never reached here: no worker runs) and the setting left unset."""
    relay = f"smtp://127.0.0.1:{free_port()}"
    return settings.model_copy(update={"smtp_url": relay, "dns_resolver": dns_server.address})


async def verify(api, tenant, dns_server, name: str = "example.com") -> dict:
    await api.client.post("/v1/domains", json={"domain": name}, headers=tenant.headers)
    domains = (await api.client.get("/v1/domains", headers=tenant.headers)).json()["data"]["domains"]
    domain = next(d for d in domains if d["domainName"] == name)
    publish(dns_server, domain["dnsRecords"], only=("ownership", "dkim"))
    done = await api.client.post(f"/v1/domains/{domain['id']}/verify", headers=tenant.headers)
    assert done.json()["data"]["verificationStatus"] == "VERIFIED", done.text
    return domain


def refused(response, field: str, message: str | None = None) -> dict:
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["error"]["code"] == "VERIFIED_DOMAIN_REQUIRED"
    assert body["message"] == body["error"]["message"]
    assert body["error"]["message"] == (
        message or "A verified domain is required before sending from example.com"
    )
    assert body["error"]["details"][0]["field"] == field
    return body


async def test_the_rule_is_on_by_default_with_a_real_relay(api):
    assert api.container.settings.require_verified_domain is None
    assert api.container.settings.verified_domain_required() is True


async def test_sender_on_an_unverified_domain_is_refused_with_autosends_message(api, tenant, dns_server):
    response = await api.client.post(
        "/v1/senders", json={"email": "news@example.com"}, headers=tenant.headers
    )
    refused(response, "email", SENDER_MESSAGE)
    await api.client.post("/v1/domains", json={"domain": "example.com"}, headers=tenant.headers)
    pending = await api.client.post("/v1/senders", json={"email": "news@example.com"}, headers=tenant.headers)
    refused(pending, "email", SENDER_MESSAGE)
    assert (await api.client.get("/v1/senders", headers=tenant.headers)).json()["data"]["senders"] == []
    await verify(api, tenant, dns_server)
    ok = await api.client.post("/v1/senders", json={"email": "news@example.com"}, headers=tenant.headers)
    assert ok.status_code == 200, ok.text


async def test_send_from_an_unverified_domain_is_refused_and_queues_nothing(api, tenant, dns_server):
    refused(await api.client.post("/v1/mails/send", json=mail(), headers=tenant.headers), "from.email")
    refused(await api.client.post("/v1/mails/bulk", json=bulk(2), headers=tenant.headers), "from.email")
    assert await ledger(api, tenant.project_id) == []
    await verify(api, tenant, dns_server)
    sent = await api.client.post("/v1/mails/send", json=mail(), headers=tenant.headers)
    assert sent.status_code == 200, sent.text
    sub = await api.client.post(
        "/v1/mails/send", json=mail(**{"from": {"email": "a@mail.example.com"}}), headers=tenant.headers
    )
    assert sub.status_code == 200, sub.text
    other = mail(**{"from": {"email": "a@example.org"}})
    body = refused(
        await api.client.post("/v1/mails/send", json=other, headers=tenant.headers),
        "from.email",
        "A verified domain is required before sending from example.org",
    )
    assert body["error"]["status"] == 400
    assert len(await ledger(api, tenant.project_id)) == 2


async def test_another_projects_verified_domain_does_not_count(api, tenant, other_tenant, dns_server):
    await verify(api, other_tenant, dns_server)
    refused(await api.client.post("/v1/mails/send", json=mail(), headers=tenant.headers), "from.email")
    ok = await api.client.post("/v1/mails/send", json=mail(), headers=other_tenant.headers)
    assert ok.status_code == 200


async def test_campaign_from_an_unverified_domain_is_refused_on_create_and_patch(api, tenant, dns_server):
    with_from = {**BASE, "from": {"email": "news@example.com", "name": "News"}}
    refused(await api.client.post("/v1/campaigns", json=with_from, headers=tenant.headers), "from.email")
    draft = await api.client.post("/v1/campaigns", json=BASE, headers=tenant.headers)
    assert draft.status_code == 200, draft.text  # no sender yet: nothing to check
    cid = draft.json()["data"]["id"]
    patch = await api.client.patch(
        f"/v1/campaigns/{cid}", json={"from": {"email": "x@example.com"}}, headers=tenant.headers
    )
    refused(patch, "from.email")
    seeded = await seed_content(api, tenant.project_id)  # a sender stored earlier, on example.com
    by_id = await api.client.patch(
        f"/v1/campaigns/{cid}", json={"fromSenderId": seeded["sender"]}, headers=tenant.headers
    )
    refused(by_id, "from.email")
    got = (await api.client.get(f"/v1/campaigns/{cid}", headers=tenant.headers)).json()["data"]
    assert got["from"]["email"] is None
    await verify(api, tenant, dns_server)
    again = await api.client.patch(
        f"/v1/campaigns/{cid}", json={"fromSenderId": seeded["sender"]}, headers=tenant.headers
    )
    assert again.status_code == 200 and again.json()["data"]["from"]["email"] == "news@example.com"


async def test_wrong_types_and_auth_come_before_the_domain_rule(api, tenant):
    wrong = await api.client.post(
        "/v1/mails/send", json=mail(**{"from": {"email": 7}}), headers=tenant.headers
    )
    assert wrong.status_code == 400 and wrong.json()["error"]["code"] == "VALIDATION_FAILED"
    assert (await api.client.post("/v1/senders", json={"email": "a@example.com"})).status_code == 401


class TestExplicitSetting:
    @pytest.fixture
    def settings(self, settings):
        return settings.model_copy(update={"require_verified_domain": False})

    async def test_off_explicitly_with_a_real_relay(self, api, tenant):
        assert api.container.settings.verified_domain_required() is False
        assert (
            await api.client.post("/v1/mails/send", json=mail(), headers=tenant.headers)
        ).status_code == 200
        assert (
            await api.client.post("/v1/senders", json={"email": "a@example.com"}, headers=tenant.headers)
        ).status_code == 200
