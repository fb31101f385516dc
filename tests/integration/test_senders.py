"""The senders API over HTTP, on SQLite and PostgreSQL (verified-domain rule off and on)."""

from __future__ import annotations

import pytest

from sendhouse.domain import ids
from sendhouse.domain.times import utcnow
from sendhouse.errors import InvalidOperation
from sendhouse.services.senders import check_from_allowed
from sendhouse.store.schema.campaigns import campaigns
from tests.support.dns_server import DnsServer, publish


async def add_sender(api, tenant, **body):
    response = await api.client.post(
        "/v1/senders", json={"email": "hello@example.com", **body}, headers=tenant.headers
    )
    assert response.status_code == 200, response.text
    return response.json()


async def test_create_list_get_delete(api, tenant):
    created = await add_sender(api, tenant, name="Hello", replyTo="support@example.com")
    sender = created["data"]["sender"]
    assert created["message"] == "Authenticated sender added successfully"
    assert created["data"]["projectId"] == tenant.project_id and ids.is_object_id(sender["id"])
    assert sender == {
        "id": sender["id"],
        "email": "hello@example.com",
        "name": "Hello",
        "replyTo": "support@example.com",
    }
    listed = await api.client.get("/v1/senders", headers=tenant.headers)
    assert listed.json()["data"] == {"senders": [sender]}
    got = await api.client.get(f"/v1/senders/{sender['id']}", headers=tenant.headers)
    assert got.json()["data"] == sender
    deleted = await api.client.delete(f"/v1/senders/{sender['id']}", headers=tenant.headers)
    assert deleted.status_code == 200 and deleted.json()["success"] is True
    missing = await api.client.get(f"/v1/senders/{sender['id']}", headers=tenant.headers)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "AUTHENTICATED_SENDER_NOT_FOUND"


async def test_reply_to_and_name_default_to_empty_strings(api, tenant):
    sender = (await add_sender(api, tenant))["data"]["sender"]
    assert (sender["name"], sender["replyTo"]) == ("", "")


async def test_duplicate_email_is_409_case_insensitively(api, tenant, other_tenant):
    await add_sender(api, tenant)
    again = await api.client.post("/v1/senders", json={"email": "Hello@EXAMPLE.com"}, headers=tenant.headers)
    assert again.status_code == 409
    assert again.json()["error"]["message"] == "An authenticated sender with this email already exists"
    await add_sender(api, other_tenant)  # another project may use the same address
    listed = await api.client.get("/v1/senders", headers=tenant.headers)
    assert len(listed.json()["data"]["senders"]) == 1


@pytest.mark.parametrize(
    "body,field",
    [
        ({}, "email"),
        ({"email": 5}, "email"),
        ({"email": "not-an-address"}, "email"),
        ({"email": "a@example.com", "name": "n" * 201}, "name"),
        ({"email": "a@example.com", "name": 3}, "name"),
        ({"email": "a@example.com", "replyTo": "nope"}, "replyTo"),
    ],
)
async def test_bad_input_is_refused_and_changes_nothing(api, tenant, body, field):
    response = await api.client.post("/v1/senders", json=body, headers=tenant.headers)
    assert response.status_code == 400, response.text
    assert field in [d["field"] for d in response.json()["error"]["details"]]
    assert (await api.client.get("/v1/senders", headers=tenant.headers)).json()["data"]["senders"] == []


async def test_name_at_its_bound_is_accepted(api, tenant):
    assert (await add_sender(api, tenant, name="n" * 200))["data"]["sender"]["name"] == "n" * 200


async def test_sender_used_by_a_template_cannot_be_deleted(api, tenant):
    sender_id = (await add_sender(api, tenant))["data"]["sender"]["id"]
    template = await api.client.post(
        "/v1/templates",
        json={"templateName": "t", "subject": "s", "senderId": sender_id},
        headers=tenant.headers,
    )
    refused = await api.client.delete(f"/v1/senders/{sender_id}", headers=tenant.headers)
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "AUTHENTICATED_SENDER_IN_USE"
    await api.client.delete(f"/v1/templates/{template.json()['data']['templateId']}", headers=tenant.headers)
    assert (await api.client.delete(f"/v1/senders/{sender_id}", headers=tenant.headers)).status_code == 200


async def _campaign_from(api, project_id: str, sender_id: str, status: str) -> str:
    now, campaign_id = utcnow(), ids.new_id()
    async with api.db.write() as conn:
        await conn.execute(
            campaigns.insert().values(
                id=campaign_id,
                project_id=project_id,
                name="c",
                subject="s",
                from_sender_id=sender_id,
                to_lists=[],
                exclude_lists=[],
                status=status,
                send_mode="immediate",
                created_at=now,
                updated_at=now,
            )
        )
    return campaign_id


@pytest.mark.parametrize(
    "status,in_use",
    [
        ("draft", True),
        ("scheduled", True),
        ("sending", True),
        ("paused", True),
        ("sent", False),
        ("aborted", False),
    ],
)
async def test_sender_of_an_unfinished_campaign_cannot_be_deleted(api, tenant, status, in_use):
    sender_id = (await add_sender(api, tenant))["data"]["sender"]["id"]
    await _campaign_from(api, tenant.project_id, sender_id, status)
    response = await api.client.delete(f"/v1/senders/{sender_id}", headers=tenant.headers)
    assert response.status_code == (400 if in_use else 200), response.text
    remaining = (await api.client.get("/v1/senders", headers=tenant.headers)).json()["data"]["senders"]
    assert len(remaining) == (1 if in_use else 0)


async def test_another_projects_sender_is_404(api, tenant, other_tenant):
    sender_id = (await add_sender(api, tenant))["data"]["sender"]["id"]
    for method in ("GET", "DELETE"):
        response = await api.client.request(method, f"/v1/senders/{sender_id}", headers=other_tenant.headers)
        assert (
            response.status_code == 404
            and response.json()["error"]["code"] == "AUTHENTICATED_SENDER_NOT_FOUND"
        )
    assert (await api.client.get("/v1/senders", headers=other_tenant.headers)).json()["data"]["senders"] == []
    assert (await api.client.get(f"/v1/senders/{sender_id}", headers=tenant.headers)).status_code == 200


@pytest.mark.parametrize(
    "method,path",
    [("GET", "/v1/senders"), ("GET", "/v1/senders/x"), ("POST", "/v1/senders"), ("DELETE", "/v1/senders/x")],
)
@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer AS_wrong"}])
async def test_missing_or_wrong_key_is_401(api, method, path, headers):
    response = await api.client.request(method, path, json={"email": "a@example.com"}, headers=headers)
    assert response.status_code == 401 and response.json()["error"]["code"] == "UNAUTHORIZED"


class TestVerifiedDomainRequired:
    """settings.require_verified_domain=True: only addresses on the project's VERIFIED domains."""

    @pytest.fixture
    def dns_server(self):
        with DnsServer() as server:
            yield server

    @pytest.fixture
    def settings(self, settings, dns_server):
        return settings.model_copy(
            update={"require_verified_domain": True, "dns_resolver": dns_server.address}
        )

    async def _verified_domain(self, api, tenant, dns_server, name="example.com") -> dict:
        domain = (await api.client.post("/v1/domains", json={"domain": name}, headers=tenant.headers)).json()[
            "data"
        ]
        publish(dns_server, domain["dnsRecords"], only=("ownership", "dkim"))
        verified = await api.client.post(f"/v1/domains/{domain['id']}/verify", headers=tenant.headers)
        assert verified.json()["data"]["verificationStatus"] == "VERIFIED", verified.text
        return domain

    async def test_unverified_domain_is_refused(self, api, tenant):
        response = await api.client.post(
            "/v1/senders", json={"email": "a@example.com"}, headers=tenant.headers
        )
        assert response.status_code == 400
        assert (
            response.json()["error"]["message"]
            == "A verified domain is required before adding an authenticated sender"
        )
        await api.client.post("/v1/domains", json={"domain": "example.com"}, headers=tenant.headers)
        pending = await api.client.post(
            "/v1/senders", json={"email": "a@example.com"}, headers=tenant.headers
        )
        assert pending.status_code == 400
        assert (await api.client.get("/v1/senders", headers=tenant.headers)).json()["data"]["senders"] == []

    async def test_verified_domain_and_its_subdomains_are_accepted(self, api, tenant, dns_server):
        await self._verified_domain(api, tenant, dns_server)
        for email in ("a@example.com", "b@news.example.com"):
            response = await api.client.post("/v1/senders", json={"email": email}, headers=tenant.headers)
            assert response.status_code == 200, response.text
        other = await api.client.post("/v1/senders", json={"email": "a@example.org"}, headers=tenant.headers)
        assert other.status_code == 400

    async def test_another_projects_verified_domain_does_not_count(
        self, api, tenant, other_tenant, dns_server
    ):
        await self._verified_domain(api, other_tenant, dns_server)
        response = await api.client.post(
            "/v1/senders", json={"email": "a@example.com"}, headers=tenant.headers
        )
        assert response.status_code == 400

    async def test_check_from_allowed(self, api, tenant, dns_server):
        settings = api.container.settings
        async with api.db.read() as conn:
            with pytest.raises(InvalidOperation):
                await check_from_allowed(conn, settings, tenant.project_id, "a@example.com")
        await self._verified_domain(api, tenant, dns_server)
        async with api.db.read() as conn:
            await check_from_allowed(conn, settings, tenant.project_id, "a@example.com")
            with pytest.raises(InvalidOperation):
                await check_from_allowed(conn, settings, tenant.project_id, "a@elsewhere.com")


async def test_check_from_allowed_is_open_when_not_required(api, tenant):
    async with api.db.read() as conn:
        await check_from_allowed(conn, api.container.settings, tenant.project_id, "a@anything.example")
