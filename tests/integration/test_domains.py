"""The domains API over HTTP, on SQLite and PostgreSQL, verified against a real DNS server."""

from __future__ import annotations

import base64
from datetime import timedelta

import dkim
import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization

from sendhouse.config import Settings
from sendhouse.errors import AppError
from sendhouse.services import domains as domain_service
from sendhouse.services import secrets_box
from sendhouse.services.dns_checks import make_resolver
from sendhouse.services.domains import dkim_signer_material
from sendhouse.store.schema.content import domains
from tests.support.dns_server import DnsServer, publish

LONGEST = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 61])  # 253 characters


@pytest.fixture
def dns_server():
    with DnsServer() as server:
        yield server


@pytest.fixture
def settings(settings, dns_server):
    return settings.model_copy(
        update={"dns_resolver": dns_server.address, "bounce_domain": "bounces.sendhouse.test"}
    )


async def add(api, tenant, name="example.com", **body):
    response = await api.client.post("/v1/domains", json={"domain": name, **body}, headers=tenant.headers)
    assert response.status_code == 200, response.text
    return response.json()["data"]


async def verify(api, tenant, domain_id):
    return await api.client.post(f"/v1/domains/{domain_id}/verify", headers=tenant.headers)


async def let_time_pass(api, domain_id):
    """Move the last check back a minute, as if the verify rate limit had elapsed."""
    async with api.db.write() as conn:
        stamp = (
            await conn.execute(sa.select(domains.c.last_checked_at).where(domains.c.id == domain_id))
        ).scalar()
        await conn.execute(
            domains.update()
            .where(domains.c.id == domain_id)
            .values(last_checked_at=stamp - timedelta(minutes=1))
        )


async def stored(api, domain_id) -> dict:
    async with api.db.read() as conn:
        return dict(
            (await conn.execute(sa.select(domains).where(domains.c.id == domain_id))).mappings().one()
        )


async def test_add_returns_domain_with_records_to_publish(api, tenant):
    data = await add(api, tenant, "Example.COM")
    row = await stored(api, data["id"])
    records = data["dnsRecords"]
    assert data["domainName"] == "example.com" and data["verificationStatus"] == "PENDING_CONFIGURATION"
    assert not any(data[k] for k in ("ownershipVerified", "dkimEnabled", "mailFromEnabled", "dmarcEnabled"))
    assert (data["regionKey"], data["lastCheckedAt"], data["verifiedAt"]) == ("us-east-1", None, None)
    assert records["ownership"] == {
        "name": "_autosend-verify.example.com",
        "type": "TXT",
        "purpose": "ownership",
        "value": f"sendhouse-verification={row['ownership_token']}",
    }
    assert records["dkim"]["name"] == f"{row['dkim_selector']}._domainkey.example.com"
    assert records["dkim"]["value"] == f"v=DKIM1; k=rsa; p={row['dkim_public_key']}"
    mx, spf = records["mailFrom"]
    assert (mx["name"], mx["type"], mx["value"], mx["priority"]) == (
        "mail.example.com",
        "MX",
        "bounces.sendhouse.test",
        10,
    )
    assert (
        spf["name"] == "mail.example.com"
        and spf["value"].startswith("v=spf1 ")
        and spf["value"].endswith("~all")
    )
    assert records["dmarc"] == {
        "name": "_dmarc.example.com",
        "type": "TXT",
        "purpose": "dmarc",
        "value": "v=DMARC1; p=none;",
    }
    got = await api.client.get(f"/v1/domains/{data['id']}", headers=tenant.headers)
    assert got.json()["data"] == data


async def test_dkim_private_key_is_stored_encrypted_and_matches_the_public_key(api, tenant):
    data = await add(api, tenant)
    row = await stored(api, data["id"])
    assert "PRIVATE KEY" not in row["dkim_private_key"] and "MII" not in row["dkim_private_key"][:8]
    pem = secrets_box.open_sealed(api.container.settings, row["dkim_private_key"])
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert key.key_size == 2048 and base64.b64encode(public).decode() == row["dkim_public_key"]
    other = api.container.settings.model_copy(update={"secret_key": "another-secret"})
    with pytest.raises(AppError):
        secrets_box.open_sealed(other, row["dkim_private_key"])


async def test_region_key(api, tenant):
    assert (await add(api, tenant, regionKey="eu-central-1"))["regionKey"] == "eu-central-1"
    bad = await api.client.post(
        "/v1/domains", json={"domain": "x.com", "regionKey": "mars-1"}, headers=tenant.headers
    )
    assert bad.status_code == 400 and bad.json()["error"]["details"][0]["field"] == "regionKey"


async def test_domain_length_at_and_over_the_bound(api, tenant):
    assert (await add(api, tenant, LONGEST))["domainName"] == LONGEST
    over = await api.client.post("/v1/domains", json={"domain": LONGEST + "d"}, headers=tenant.headers)
    assert over.status_code == 400 and over.json()["error"]["details"][0]["field"] == "domain"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"domain": 5},
        {"domain": ""},
        {"domain": "https://example.com"},
        {"domain": "example.com/path"},
        {"domain": "exa mple.com"},
        {"domain": "localhost"},
        {"domain": "-bad.example.com"},
        {"domain": "a" * 64 + ".com"},
        {"domain": "example.123"},
        {"domain": "ex_ample.com"},
    ],
)
async def test_invalid_domains_are_refused_and_change_nothing(api, tenant, body):
    response = await api.client.post("/v1/domains", json=body, headers=tenant.headers)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_FAILED" and error["details"][0]["field"] == "domain"
    assert (await api.client.get("/v1/domains", headers=tenant.headers)).json()["data"]["domains"] == []


async def test_same_domain_twice_is_409(api, tenant, other_tenant):
    await add(api, tenant)
    again = await api.client.post("/v1/domains", json={"domain": "EXAMPLE.com."}, headers=tenant.headers)
    assert again.status_code == 409 and again.json()["error"]["code"] == "DOMAIN_ALREADY_EXISTS"
    await add(api, other_tenant)
    assert len((await api.client.get("/v1/domains", headers=tenant.headers)).json()["data"]["domains"]) == 1


async def test_list_and_delete(api, tenant):
    first, second = await add(api, tenant, "one.example"), await add(api, tenant, "two.example")
    listed = (await api.client.get("/v1/domains", headers=tenant.headers)).json()["data"]["domains"]
    assert [d["id"] for d in listed] == [first["id"], second["id"]]
    deleted = await api.client.delete(f"/v1/domains/{first['id']}", headers=tenant.headers)
    assert deleted.json() == {
        "success": True,
        "message": "Domain deleted successfully",
        "data": {"id": first["id"], "domainName": "one.example", "deletedSenders": [], "pausedCampaigns": []},
    }
    for method, path in [("GET", ""), ("DELETE", ""), ("POST", "/verify")]:
        response = await api.client.request(
            method, f"/v1/domains/{first['id']}{path}", headers=tenant.headers
        )
        assert response.status_code == 404 and response.json()["error"]["code"] == "DOMAIN_NOT_FOUND"
    listed = (await api.client.get("/v1/domains", headers=tenant.headers)).json()["data"]["domains"]
    assert [d["id"] for d in listed] == [second["id"]]


async def test_verify_follows_what_dns_serves(api, tenant, dns_server):
    data = await add(api, tenant)
    before = await verify(api, tenant, data["id"])
    assert before.status_code == 200 and before.json()["message"] == "Domain verification status updated"
    result = before.json()["data"]
    assert result["verificationStatus"] == "PENDING_CONFIGURATION" and result["domain"]["lastCheckedAt"]
    assert (result["ownershipVerified"], result["dkimEnabled"], result["verificationInProgress"]) == (
        False,
    ) * 3
    assert ("_autosend-verify.example.com", "TXT") in dns_server.queries

    publish(dns_server, data["dnsRecords"], only=("ownership",))
    await let_time_pass(api, data["id"])
    partial = (await verify(api, tenant, data["id"])).json()["data"]
    assert (partial["verificationStatus"], partial["ownershipVerified"], partial["dkimEnabled"]) == (
        "PENDING",
        True,
        False,
    )

    publish(dns_server, data["dnsRecords"], only=("dkim", "mailFrom", "dmarc"))
    await let_time_pass(api, data["id"])
    full = (await verify(api, tenant, data["id"])).json()["data"]
    assert full["verificationStatus"] == "VERIFIED" and full["domain"]["verifiedAt"]
    assert all(full[k] for k in ("ownershipVerified", "dkimEnabled", "mailFromEnabled", "dmarcEnabled"))


async def test_flags_never_revert_once_seen(api, tenant, dns_server):
    data = await add(api, tenant)
    publish(dns_server, data["dnsRecords"])
    verified = (await verify(api, tenant, data["id"])).json()["data"]["domain"]
    dns_server.clear()
    await let_time_pass(api, data["id"])
    again = (await verify(api, tenant, data["id"])).json()["data"]["domain"]
    assert again["verificationStatus"] == "VERIFIED" and again["verifiedAt"] == verified["verifiedAt"]
    assert all(again[k] for k in ("ownershipVerified", "dkimEnabled", "mailFromEnabled", "dmarcEnabled"))


async def test_wrong_records_do_not_verify(api, tenant, dns_server):
    data = await add(api, tenant)
    dns_server.add("_autosend-verify.example.com", "TXT", "sendhouse-verification=not-the-token")
    dns_server.add(data["dnsRecords"]["dkim"]["name"], "TXT", "v=DKIM1; k=rsa; p=QUJD")
    dns_server.add("mail.example.com", "MX", "10 elsewhere.example.")
    dns_server.add("mail.example.com", "TXT", "v=spf1 ~all")
    result = (await verify(api, tenant, data["id"])).json()["data"]
    assert result["verificationStatus"] == "PENDING_CONFIGURATION"
    assert not any(result[k] for k in ("ownershipVerified", "dkimEnabled", "mailFromEnabled", "dmarcEnabled"))


async def test_verify_again_at_once_is_429(api, tenant):
    data = await add(api, tenant)
    assert (await verify(api, tenant, data["id"])).status_code == 200
    too_soon = await verify(api, tenant, data["id"])
    assert too_soon.status_code == 429 and too_soon.json()["error"]["code"] == "RATE_LIMIT_EXCEEDED"
    assert 1 <= int(too_soon.headers["retry-after"]) <= 5


async def test_dkim_signer_material_signs_mail_that_verifies(api, tenant, dns_server):
    data = await add(api, tenant)
    settings = api.container.settings
    async with api.db.read() as conn:
        assert await dkim_signer_material(conn, settings, tenant.project_id, "example.com") is None
    publish(dns_server, data["dnsRecords"])
    await verify(api, tenant, data["id"])
    async with api.db.read() as conn:
        domain, selector, pem = await dkim_signer_material(
            conn, settings, tenant.project_id, "news.example.com"
        )
        assert await dkim_signer_material(conn, settings, tenant.project_id, "example.org") is None
    message = b"From: a@example.com\r\nTo: b@example.org\r\nSubject: hi\r\n\r\nbody\r\n"
    signed = dkim.sign(message, selector.encode(), domain.encode(), pem.encode()) + message
    record = data["dnsRecords"]["dkim"]["value"].encode()
    assert dkim.verify(signed, dnsfunc=lambda name, timeout=5: record)


async def test_another_projects_domain_is_404(api, tenant, other_tenant):
    data = await add(api, tenant)
    for method, path in [("GET", ""), ("POST", "/verify"), ("DELETE", "")]:
        response = await api.client.request(
            method, f"/v1/domains/{data['id']}{path}", headers=other_tenant.headers
        )
        assert response.status_code == 404 and response.json()["error"]["code"] == "DOMAIN_NOT_FOUND"
    assert (await api.client.get("/v1/domains", headers=other_tenant.headers)).json()["data"]["domains"] == []
    assert (await stored(api, data["id"]))["last_checked_at"] is None


@pytest.mark.parametrize(
    "method,path",
    [
        ("GET", "/v1/domains"),
        ("GET", "/v1/domains/x"),
        ("POST", "/v1/domains"),
        ("POST", "/v1/domains/x/verify"),
        ("DELETE", "/v1/domains/x"),
    ],
)
@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer AS_wrong"}])
async def test_missing_or_wrong_key_is_401(api, method, path, headers):
    response = await api.client.request(method, path, json={"domain": "example.com"}, headers=headers)
    assert response.status_code == 401 and response.json()["error"]["code"] == "UNAUTHORIZED"


@pytest.mark.parametrize(
    "value,host,port",
    [("127.0.0.1", "127.0.0.1", 53), ("10.0.0.2:5353", "10.0.0.2", 5353), ("[::1]:5300", "::1", 5300)],
)
def test_resolver_setting_forms(value, host, port):
    resolver = make_resolver(Settings(dns_resolver=value))
    assert (resolver.nameservers, resolver.port) == ([host], port)


async def test_each_record_keeps_what_the_last_check_found_of_it(api, tenant, dns_server, settings):
    data = await add(api, tenant)
    records = data["dnsRecords"]
    before = await domain_service.domain_page(api.db, settings, tenant.project_id, data["id"])
    assert [r["check"] for r in before["records"]] == [None] * 5 and before["hostProblem"] is None
    publish(dns_server, records, only=("ownership",))
    dns_server.add(records["dkim"]["name"], "TXT", "v=DKIM1; k=rsa; p=QUJD")
    dns_server.add("mail.example.com", "MX", "10 bounces.sendhouse.test.")
    dns_server.add("mail.example.com", "TXT", "google-site-verification=x")
    assert (await verify(api, tenant, data["id"])).status_code == 200
    page = await domain_service.domain_page(api.db, settings, tenant.project_id, data["id"])
    assert {r["purpose"]: r["check"] for r in page["records"]} == {
        "ownership": {"state": "found", "seen": [records["ownership"]["value"]]},
        "dkim": {"state": "wrong", "seen": ["v=DKIM1; k=rsa; p=QUJD"]},
        "mail_from": {"state": "found", "seen": ["bounces.sendhouse.test"]},
        "spf": {"state": "wrong", "seen": ["google-site-verification=x"]},
        "dmarc": {"state": "missing", "seen": []},
    }
    assert (page["domain"]["ownershipVerified"], page["domain"]["mailFromEnabled"]) == (True, False)


async def test_the_inbound_mx_is_checked_with_the_rest_once_receiving_is_on(
    api, tenant, dns_server, settings
):
    data = await add(api, tenant)
    publish(dns_server, data["dnsRecords"])
    await verify(api, tenant, data["id"])
    enabled = await api.client.post(f"/v1/domains/{data['id']}/inbound/enable", headers=tenant.headers)
    assert enabled.status_code == 200 and enabled.json()["data"]["inboundDomainVerifiedAt"] is None
    dns_server.add("example.com", "MX", "10 mx.elsewhere.example.")
    await let_time_pass(api, data["id"])
    await verify(api, tenant, data["id"])
    page = await domain_service.domain_page(api.db, settings, tenant.project_id, data["id"])
    assert page["records"][-1]["purpose"] == "inbound"
    assert page["records"][-1]["check"] == {"state": "wrong", "seen": ["mx.elsewhere.example"]}
    assert page["domain"]["inboundDomainVerifiedAt"] is None
    dns_server.add("example.com", "MX", "20 bounces.sendhouse.test.")
    await let_time_pass(api, data["id"])
    checked = (await verify(api, tenant, data["id"])).json()["data"]["domain"]
    assert checked["inboundDomainVerifiedAt"]
