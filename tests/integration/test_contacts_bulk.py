"""/v1/contacts bulk-update, search/emails and remove (object and bare-array bodies), both databases."""

from __future__ import annotations

import pytest


async def upsert(api, tenant, **body) -> dict:
    response = await api.client.post("/v1/contacts/email", json=body, headers=tenant.headers)
    assert response.status_code == 200, response.text
    return response.json()["data"]


async def search(api, tenant, body) -> list[dict]:
    response = await api.client.post("/v1/contacts/search/emails", json=body, headers=tenant.headers)
    assert response.status_code == 200, response.text
    return response.json()["data"]["contacts"]


@pytest.mark.parametrize(
    "wrap", [lambda emails: {"emails": emails}, lambda emails: emails], ids=["object", "bare-array"]
)
async def test_search_by_emails(api, tenant, other_tenant, wrap):
    a = await upsert(api, tenant, email="a@example.com", firstName="A")
    await upsert(api, tenant, email="b@example.com")
    await upsert(api, other_tenant, email="c@example.com")
    found = await search(api, tenant, wrap(["A@Example.com", "c@example.com", "nobody@example.com"]))
    assert found == [a]  # case-insensitive, another project's contact is invisible


@pytest.mark.parametrize(
    "wrap", [lambda emails: {"emails": emails}, lambda emails: emails], ids=["object", "bare-array"]
)
async def test_remove_by_emails(api, tenant, other_tenant, wrap):
    a = await upsert(api, tenant, email="a@example.com")
    b = await upsert(api, tenant, email="b@example.com")
    theirs = await upsert(api, other_tenant, email="a@example.com")
    response = await api.client.post(
        "/v1/contacts/remove",
        json=wrap(["a@example.com", "B@example.com", "x@example.com"]),
        headers=tenant.headers,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["success"] is True and body["data"] == {
        "removedIds": sorted([a["id"], b["id"]]),
        "removedCount": 2,
    }
    assert await search(api, tenant, ["a@example.com", "b@example.com"]) == []
    assert await search(api, other_tenant, ["a@example.com"]) == [theirs]


@pytest.mark.parametrize("path", ["/v1/contacts/remove", "/v1/contacts/search/emails"])
@pytest.mark.parametrize(
    "body",
    [
        [],
        {"emails": []},
        {},
        {"emails": "a@example.com"},
        ["not-an-email"],
        [5],
        ["a@example.com"] * 1001,
        "a@example.com",
    ],
)
async def test_email_list_bodies_are_checked(api, tenant, path, body):
    await upsert(api, tenant, email="a@example.com")
    response = await api.client.post(path, json=body, headers=tenant.headers)
    assert response.status_code == 400 and response.json()["error"]["code"] == "VALIDATION_FAILED"
    assert len(await search(api, tenant, ["a@example.com"])) == 1


@pytest.mark.parametrize("path", ["/v1/contacts/remove", "/v1/contacts/search/emails"])
async def test_email_list_body_must_be_json(api, tenant, path):
    response = await api.client.post(path, content=b"emails=a@example.com", headers=tenant.headers)
    assert response.status_code == 400 and response.json()["error"]["details"][0]["field"] == "body"


async def test_email_list_accepts_the_maximum(api, tenant):
    emails = [f"u{i}@example.com" for i in range(1000)]
    response = await api.client.post("/v1/contacts/search/emails", json=emails, headers=tenant.headers)
    assert response.status_code == 200 and response.json()["data"]["contacts"] == []


async def test_bulk_update_creates_updates_and_counts_failures(api, tenant):
    await api.client.post(
        "/v1/contact-properties", json={"name": "age", "type": "number"}, headers=tenant.headers
    )
    old = await upsert(api, tenant, email="old@example.com", firstName="Old", lastName="Keep")
    body = {
        "runWorkflow": False,
        "contacts": [
            {"email": "old@example.com", "firstName": "", "customFields": {"age": 40}},
            {"email": "new@example.com", "firstName": "New"},
            {"email": "broken"},
            {"email": "typed@example.com", "customFields": {"age": "forty"}},
            "not an object",
        ],
    }
    response = await api.client.post("/v1/contacts/bulk-update", json=body, headers=tenant.headers)
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert (data["successCount"], data["failedCount"], data["totalCount"]) == (2, 3, 5)
    assert [e["index"] for e in data["errors"]] == [2, 3, 4]
    found = {
        c["email"]: c
        for c in await search(api, tenant, ["old@example.com", "new@example.com", "typed@example.com"])
    }
    assert set(found) == {"old@example.com", "new@example.com"}
    assert found["old@example.com"]["id"] == old["id"] and found["old@example.com"]["firstName"] is None
    assert found["old@example.com"]["lastName"] == "Keep" and found["old@example.com"]["customFields"] == {
        "age": 40
    }
    assert found["new@example.com"]["firstName"] == "New"


@pytest.mark.parametrize("count,status", [(0, 400), (1, 200), (100, 200), (101, 400)])
async def test_bulk_update_limits(api, tenant, count, status):
    contacts = [{"email": f"b{i}@example.com"} for i in range(count)]
    response = await api.client.post(
        "/v1/contacts/bulk-update", json={"contacts": contacts}, headers=tenant.headers
    )
    assert response.status_code == status, response.text
    if status == 200:
        assert response.json()["data"]["successCount"] == count
    else:
        assert response.json()["error"]["details"][0]["field"] == "contacts"
        assert await search(api, tenant, ["b0@example.com"]) == []


@pytest.mark.parametrize(
    "body,field",
    [
        ({}, "contacts"),
        ({"contacts": {"email": "a@example.com"}}, "contacts"),
        ({"contacts": [], "runWorkflow": "yes"}, "runWorkflow"),
    ],
)
async def test_bulk_update_wrong_types(api, tenant, body, field):
    response = await api.client.post("/v1/contacts/bulk-update", json=body, headers=tenant.headers)
    assert response.status_code == 400 and response.json()["error"]["details"][0]["field"] == field
