"""The routes AutoSend's OpenAPI lists that Sendhouse lacked: POST /v1/contacts/email/duplicate,
PATCH /v1/contacts/email/{email}/custom-fields and POST /v1/suppression-groups/entries/all, over
HTTP on both databases (auth, another project's key, wrong types, not found, conflicts)."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from sendhouse.domain.times import iso, utcnow
from sendhouse.store.schema.audience import suppressions

DUPLICATE = "/v1/contacts/email/duplicate"
ALL = "/v1/suppression-groups/entries/all"


def fields_url(email: str) -> str:
    return f"/v1/contacts/email/{email.replace('@', '%40')}/custom-fields"


async def make_list(api, tenant, name: str = "Customers") -> str:
    response = await api.client.post("/v1/contact-lists", json={"name": name}, headers=tenant.headers)
    assert response.status_code in (200, 201), response.text
    return response.json()["data"]["id"]


async def make_contact(api, tenant, email: str = "ann@example.com", **extra) -> dict:
    body = {
        "email": email,
        "firstName": "Ann",
        "lastName": "Lee",
        "userId": "u-1",
        "customFields": {"plan": "pro", "seats": 3},
        **extra,
    }
    response = await api.client.post("/v1/contacts", json=body, headers=tenant.headers)
    assert response.status_code == 200, response.text
    return response.json()["data"]


def error_of(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"]["code"] == code and body["message"] == body["error"]["message"]
    return body["error"]


# --- POST /contacts/email/duplicate -------------------------------------------------------------


async def test_duplicate_copies_the_contact_to_a_new_email(api, tenant):
    list_id = await make_list(api, tenant)
    source = await make_contact(api, tenant, listIds=[list_id], mobile="+14155550100")
    response = await api.client.post(
        DUPLICATE,
        json={"sourceEmail": "ANN@example.com", "newEmail": "Ann2@Example.com"},
        headers=tenant.headers,
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["message"] == "Contact duplicated successfully"
    assert body["data"]["sourceContact"]["id"] == source["id"]
    copy = body["data"]["newContact"]
    assert copy["id"] != source["id"] and copy["email"] == "ann2@example.com"
    same = ("firstName", "lastName", "userId", "mobile", "customFields", "listIds", "projectId")
    assert {k: copy[k] for k in same} == {k: source[k] for k in same}
    assert copy["listIds"] == [list_id]
    got = await api.client.get(f"/v1/contacts/{copy['id']}", headers=tenant.headers)
    assert got.json()["data"]["email"] == "ann2@example.com"


async def test_duplicate_errors_change_nothing(api, tenant, other_tenant):
    await make_contact(api, tenant)
    await make_contact(api, tenant, "bob@example.com")
    taken = await api.client.post(
        DUPLICATE,
        json={"sourceEmail": "ann@example.com", "newEmail": "bob@example.com"},
        headers=tenant.headers,
    )
    error_of(taken, 409, "CONTACT_ALREADY_EXISTS")
    missing = await api.client.post(
        DUPLICATE,
        json={"sourceEmail": "zed@example.com", "newEmail": "z2@example.com"},
        headers=tenant.headers,
    )
    error_of(missing, 404, "CONTACT_NOT_FOUND")
    foreign = await api.client.post(
        DUPLICATE,
        json={"sourceEmail": "ann@example.com", "newEmail": "x@example.com"},
        headers=other_tenant.headers,
    )
    error_of(foreign, 404, "CONTACT_NOT_FOUND")
    for body in (
        {},
        {"sourceEmail": "ann@example.com"},
        {"sourceEmail": 5, "newEmail": "x@example.com"},
        {"sourceEmail": "ann@example.com", "newEmail": "not-an-email"},
        {"sourceEmail": "", "newEmail": ""},
    ):
        error_of(
            await api.client.post(DUPLICATE, json=body, headers=tenant.headers), 400, "VALIDATION_FAILED"
        )
    assert (
        await api.client.post(DUPLICATE, json={"sourceEmail": "ann@example.com", "newEmail": "x@example.com"})
    ).status_code == 401
    found = await api.client.post(
        "/v1/contacts/search/emails",
        json={"emails": ["x@example.com", "z2@example.com"]},
        headers=tenant.headers,
    )
    assert found.json()["data"]["contacts"] == []


# --- PATCH /contacts/email/{email}/custom-fields ------------------------------------------------


async def test_custom_fields_are_merged(api, tenant):
    contact = await make_contact(api, tenant)
    response = await api.client.patch(
        fields_url("Ann@Example.com"), json={"seats": 5, "tier": "gold", "plan": None}, headers=tenant.headers
    )
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["id"] == contact["id"] and data["customFields"] == {"seats": 5, "tier": "gold"}
    assert (data["firstName"], data["lastName"], data["userId"]) == ("Ann", "Lee", "u-1")
    wrapped = await api.client.patch(
        fields_url("ann@example.com"), json={"customFields": {"tier": "silver"}}, headers=tenant.headers
    )
    assert wrapped.json()["data"]["customFields"] == {"seats": 5, "tier": "silver"}


async def test_custom_fields_follow_property_types(api, tenant):
    await make_contact(api, tenant)
    made = await api.client.post(
        "/v1/contact-properties", json={"name": "age", "type": "number"}, headers=tenant.headers
    )
    assert made.status_code in (200, 201), made.text
    bad = await api.client.patch(fields_url("ann@example.com"), json={"age": "old"}, headers=tenant.headers)
    assert error_of(bad, 400, "VALIDATION_FAILED")["details"][0]["field"] == "customFields.age"
    good = await api.client.patch(fields_url("ann@example.com"), json={"age": 41}, headers=tenant.headers)
    assert good.json()["data"]["customFields"]["age"] == 41


async def test_custom_fields_errors_change_nothing(api, tenant, other_tenant):
    await make_contact(api, tenant)
    error_of(
        await api.client.patch(fields_url("zed@example.com"), json={"a": 1}, headers=tenant.headers),
        404,
        "CONTACT_NOT_FOUND",
    )
    error_of(
        await api.client.patch(fields_url("ann@example.com"), json={"a": 1}, headers=other_tenant.headers),
        404,
        "CONTACT_NOT_FOUND",
    )
    for body in ([1, 2], "text", {}, {"bad key!": 1}, {"customFields": "x"}):
        response = await api.client.patch(fields_url("ann@example.com"), json=body, headers=tenant.headers)
        error_of(response, 400, "VALIDATION_FAILED")
    broken = await api.client.patch(fields_url("ann@example.com"), content=b"{nope", headers=tenant.headers)
    error_of(broken, 400, "VALIDATION_FAILED")
    error_of(
        await api.client.patch(fields_url("not-an-email"), json={"a": 1}, headers=tenant.headers),
        400,
        "VALIDATION_FAILED",
    )
    assert (await api.client.patch(fields_url("ann@example.com"), json={"a": 1})).status_code == 401
    found = await api.client.post(
        "/v1/contacts/search/emails", json={"emails": ["ann@example.com"]}, headers=tenant.headers
    )
    assert found.json()["data"]["contacts"][0]["customFields"] == {"plan": "pro", "seats": 3}


# --- POST /suppression-groups/entries/all ------------------------------------------------------


async def suppress(api, tenant, emails, **extra) -> None:
    response = await api.client.post(
        "/v1/suppression-groups/emails/suppress", json={"emails": emails, **extra}, headers=tenant.headers
    )
    assert response.status_code == 200, response.text


async def make_group(api, tenant, name: str = "News") -> str:
    response = await api.client.post("/v1/suppression-groups", json={"name": name}, headers=tenant.headers)
    return response.json()["data"]["groupId"]


async def all_entries(api, tenant, **body) -> list[dict]:
    response = await api.client.post(ALL, json=body, headers=tenant.headers)
    assert response.status_code == 200, response.text
    return response.json()["data"]


async def test_all_entries_without_pages_and_with_each_filter(api, tenant, other_tenant):
    news = await make_group(api, tenant)
    await suppress(api, tenant, [f"g{i:03d}@example.com" for i in range(120)], isGlobal=True, reason="BOUNCE")
    await suppress(api, tenant, ["ann@example.com"], groupId=news, reason="UNSUBSCRIBE")
    await suppress(api, tenant, ["bob@example.com"])
    await suppress(api, other_tenant, ["ann@example.com"], isGlobal=True)
    everything = await all_entries(api, tenant)
    assert len(everything) == 122
    assert set(everything[0]) == {"id", "email", "groupId", "reason", "createdAt", "updatedAt"}
    assert [e["email"] for e in await all_entries(api, tenant, groupId=news)] == ["ann@example.com"]
    assert len(await all_entries(api, tenant, isGlobal=True)) == 120
    assert sorted(e["email"] for e in await all_entries(api, tenant, isGlobal=False)) == [
        "ann@example.com",
        "bob@example.com",
    ]
    for reason in ("unsubscribed", "UNSUBSCRIBE"):
        assert [e["email"] for e in await all_entries(api, tenant, reason=reason)] == ["ann@example.com"]
    assert len(await all_entries(api, tenant, reason="bounced")) == 120
    assert [e["email"] for e in await all_entries(api, tenant, email="BOB@example.com")] == [
        "bob@example.com"
    ]


async def test_all_entries_dates(api, tenant):
    await suppress(api, tenant, ["old@example.com", "new@example.com"], isGlobal=True)
    async with api.db.write() as conn:
        await conn.execute(
            sa.update(suppressions)
            .where(suppressions.c.email == "old@example.com")
            .values(created_at=utcnow() - timedelta(days=10))
        )
    cut = iso(utcnow() - timedelta(days=5))
    assert [e["email"] for e in await all_entries(api, tenant, startDate=cut)] == ["new@example.com"]
    assert [e["email"] for e in await all_entries(api, tenant, endDate=cut)] == ["old@example.com"]


async def test_all_entries_errors(api, tenant, other_tenant):
    theirs = await make_group(api, other_tenant)
    error_of(
        await api.client.post(ALL, json={"groupId": theirs}, headers=tenant.headers), 404, "GROUP_NOT_FOUND"
    )
    error_of(
        await api.client.post(ALL, json={"groupId": "NOPE42"}, headers=tenant.headers), 404, "GROUP_NOT_FOUND"
    )
    for body in ({"reason": "spam"}, {"isGlobal": "yes"}, {"groupId": 7}, {"startDate": "yesterday"}):
        error_of(await api.client.post(ALL, json=body, headers=tenant.headers), 400, "VALIDATION_FAILED")
    assert (await api.client.post(ALL, json={})).status_code == 401
    wrong = await api.client.post(ALL, json={}, headers={"Authorization": "Bearer AS_wrong"})
    assert wrong.status_code == 401


async def test_all_entries_refuses_rather_than_cuts_short(api, tenant, monkeypatch):
    from sendhouse.services import suppressions as service

    monkeypatch.setattr(service, "MAX_ALL_ENTRIES", 3)
    await suppress(api, tenant, ["a@example.com", "b@example.com", "c@example.com"])
    assert len(await all_entries(api, tenant)) == 3
    await suppress(api, tenant, ["d@example.com"])
    error_of(await api.client.post(ALL, json={}, headers=tenant.headers), 400, "TOO_MANY_ENTRIES")
