"""JWE-encrypted request bodies (AutoSend's §1.7) on both databases: a client fetches
/v1/jwks.json, encrypts its JSON with RSA-OAEP-256 + A256GCM and posts {"encryptedData": ...}
with `X-Payload-Encryption: jwe`; failures are 400 INVALID_ENCRYPTED_PAYLOAD and change nothing."""

from __future__ import annotations

import httpx2
import orjson
from joserfc import jwe
from joserfc.jwk import RSAKey

from sendhouse.app import create_app

ALGS = ["RSA-OAEP-256", "A256GCM"]


async def server_key(api) -> dict:
    response = await api.client.get("/v1/jwks.json")
    assert response.status_code == 200, response.text
    return response.json()["keys"][0]


def encrypt(jwk: dict, body, *, kid: str | None = "from-key") -> str:
    header = {"alg": "RSA-OAEP-256", "enc": "A256GCM"}
    if kid:
        header["kid"] = jwk["kid"] if kid == "from-key" else kid
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    return jwe.encrypt_compact(header, raw, RSAKey.import_key(jwk), algorithms=ALGS)


def jwe_headers(tenant, **extra) -> dict:
    return {**tenant.headers, "X-Payload-Encryption": "jwe", **extra}


async def contacts(api, tenant) -> list[str]:
    found = await api.client.post(
        "/v1/contacts/search/emails", json={"emails": ["ann@example.com"]}, headers=tenant.headers
    )
    return [c["email"] for c in found.json()["data"]["contacts"]]


def refused(response) -> dict:
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["error"]["code"] == "INVALID_ENCRYPTED_PAYLOAD"
    assert body["message"] == body["error"]["message"] == "Invalid encrypted payload"
    return body


async def test_jwks_is_public_and_the_same_for_every_app_on_the_database(api):
    key = await server_key(api)
    assert (key["kty"], key["e"], key["alg"], key["use"]) == ("RSA", "AQAB", "RSA-OAEP-256", "enc")
    assert key["kid"].startswith("key_") and "d" not in key
    assert len(RSAKey.import_key(key).as_dict()["n"]) >= 342  # 2048-bit modulus, base64url
    again = (await api.client.get("/v1/jwks.json")).json()["keys"]
    assert again == [key]
    replica = create_app(container=api.container)
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=replica), base_url="http://r") as client:
        assert (await client.get("/v1/jwks.json")).json()["keys"] == [key]


async def test_an_encrypted_body_is_used_as_the_plain_one(api, tenant):
    key = await server_key(api)
    body = {"encryptedData": encrypt(key, {"email": "ann@example.com", "firstName": "Ann"})}
    response = await api.client.post(
        "/v1/contacts", json=body, headers=jwe_headers(tenant, **{"X-Key-Id": key["kid"]})
    )
    assert response.status_code == 200, response.text
    assert response.json()["data"]["firstName"] == "Ann"
    without_header_kid = {"encryptedData": encrypt(key, {"email": "bob@example.com"}, kid=None)}
    by_header = await api.client.post(
        "/v1/contacts", json=without_header_kid, headers=jwe_headers(tenant, **{"X-Key-Id": key["kid"]})
    )
    assert by_header.status_code == 200, by_header.text
    from_jwe_header = {"encryptedData": encrypt(key, {"email": "cat@example.com"})}
    assert (
        await api.client.post("/v1/contacts", json=from_jwe_header, headers=jwe_headers(tenant))
    ).status_code == 200
    patched = await api.client.patch(
        "/v1/contacts/email/ann%40example.com/custom-fields",
        json={"encryptedData": encrypt(key, {"tier": "gold"})},
        headers=jwe_headers(tenant),
    )
    assert patched.json()["data"]["customFields"] == {"tier": "gold"}


async def test_encrypted_mail_send_queues_the_mail(api, tenant):
    key = await server_key(api)
    mail = {
        "from": {"email": "app@example.com"},
        "to": {"email": "ann@example.org"},
        "subject": "Hi",
        "html": "<p>Hi</p>",
    }
    response = await api.client.post(
        "/v1/mails/send", json={"encryptedData": encrypt(key, mail)}, headers=jwe_headers(tenant)
    )
    assert response.status_code == 200, response.text
    status = await api.client.get(
        f"/v1/mails/{response.json()['data']['emailId']}/status", headers=tenant.headers
    )
    assert status.json()["data"]["recipient"]["email"] == "ann@example.org"


async def test_payloads_that_cannot_be_decrypted_are_refused_and_change_nothing(api, tenant):
    key = await server_key(api)
    stranger = RSAKey.generate_key(2048, parameters={"kid": key["kid"]}).as_dict(private=False)
    plain = {"email": "ann@example.com"}
    good = encrypt(key, plain)
    cases = [
        b"not json",
        b"[]",
        orjson.dumps({"data": "x"}),
        orjson.dumps({"encryptedData": 5}),
        orjson.dumps({"encryptedData": "a.b.c"}),
        orjson.dumps({"encryptedData": "!!.b.c.d.e"}),
        orjson.dumps({"encryptedData": good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB")}),
        orjson.dumps({"encryptedData": encrypt(stranger, plain)}),
        orjson.dumps({"encryptedData": encrypt(key, plain, kid="key_1999_01")}),
    ]
    for raw in cases:
        refused(
            await api.client.post(
                "/v1/contacts",
                content=raw,
                headers={**jwe_headers(tenant), "Content-Type": "application/json"},
            )
        )
    wrong_kid = await api.client.post(
        "/v1/contacts",
        json={"encryptedData": good},
        headers=jwe_headers(tenant, **{"X-Key-Id": "key_1999_01"}),
    )
    refused(wrong_kid)
    assert await contacts(api, tenant) == []


async def test_decrypted_bodies_are_checked_like_plain_ones(api, tenant, other_tenant):
    key = await server_key(api)
    wrong_type = await api.client.post(
        "/v1/contacts", json={"encryptedData": encrypt(key, {"email": 5})}, headers=jwe_headers(tenant)
    )
    assert wrong_type.status_code == 400 and wrong_type.json()["error"]["code"] == "VALIDATION_FAILED"
    not_json = await api.client.post(
        "/v1/contacts", json={"encryptedData": encrypt(key, b"{oops")}, headers=jwe_headers(tenant)
    )
    assert not_json.status_code == 400 and not_json.json()["error"]["code"] == "VALIDATION_FAILED"
    nul = await api.client.post(
        "/v1/contacts",
        json={"encryptedData": encrypt(key, b'{"email": "a\\u0000@x.com"}')},
        headers=jwe_headers(tenant),
    )
    assert nul.status_code == 400 and nul.json()["error"]["details"][0]["field"] == "body"
    body = {"encryptedData": encrypt(key, {"email": "ann@example.com"})}
    assert (
        await api.client.post("/v1/contacts", json=body, headers={"X-Payload-Encryption": "jwe"})
    ).status_code == 401
    await api.client.post("/v1/contacts", json={"email": "ann@example.com"}, headers=tenant.headers)
    foreign = await api.client.patch(
        "/v1/contacts/email/ann%40example.com/custom-fields",
        json={"encryptedData": encrypt(key, {"tier": "x"})},
        headers=jwe_headers(other_tenant),
    )
    assert foreign.status_code == 404 and foreign.json()["error"]["code"] == "CONTACT_NOT_FOUND"
    assert await contacts(api, tenant) == ["ann@example.com"]


async def test_without_the_header_the_body_is_taken_as_it_is(api, tenant):
    key = await server_key(api)
    response = await api.client.post(
        "/v1/contacts",
        json={"encryptedData": encrypt(key, {"email": "ann@example.com"})},
        headers=tenant.headers,
    )
    assert response.status_code == 400 and response.json()["error"]["code"] == "VALIDATION_FAILED"
    assert await contacts(api, tenant) == []
