"""/v1/contacts over HTTP on SQLite and PostgreSQL: create, upsert rules, get, delete, lists, auth."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from sendhouse.domain import ids
from sendhouse.domain.times import utcnow
from sendhouse.store.schema.audience import contact_lists, suppression_groups, suppressions


async def add_list(api, project_id: str, name: str = "newsletter", kind: str = "list") -> str:
    list_id, now = ids.new_id(), utcnow()
    async with api.db.write() as conn:
        await conn.execute(
            contact_lists.insert().values(
                id=list_id,
                project_id=project_id,
                name=name,
                type=kind,
                created_at=now,
                updated_at=now,
                filter_criteria={"logicalOperator": "AND", "groups": []} if kind == "segment" else None,
            )
        )
    return list_id


async def create(api, tenant, **body):
    return await api.client.post("/v1/contacts", json=body, headers=tenant.headers)


async def upsert(api, tenant, **body):
    return await api.client.post("/v1/contacts/email", json=body, headers=tenant.headers)


async def test_create_returns_the_contact_object(api, tenant):
    list_id = await add_list(api, tenant.project_id)
    response = await create(
        api,
        tenant,
        email="  Ada@Example.COM ",
        firstName="Ada",
        lastName="Lovelace",
        userId="u-1",
        mobile="+44 20 7946 0958",
        listIds=[list_id],
        customFields={"plan": "pro", "seats": 3, "vip": True},
    )
    assert response.status_code == 200, response.text
    contact = response.json()["data"]
    assert set(contact) == {
        "id",
        "email",
        "firstName",
        "lastName",
        "userId",
        "mobile",
        "customFields",
        "listIds",
        "segmentIds",
        "projectId",
        "createdAt",
        "updatedAt",
    }
    assert contact["email"] == "ada@example.com" and len(contact["id"]) == 24
    assert (contact["firstName"], contact["lastName"], contact["userId"]) == ("Ada", "Lovelace", "u-1")
    assert contact["mobile"] == "+442079460958"
    assert contact["customFields"] == {"plan": "pro", "seats": 3, "vip": True}
    assert contact["listIds"] == [list_id] and contact["segmentIds"] == []
    assert contact["projectId"] == tenant.project_id and contact["createdAt"].endswith("Z")
    got = (await api.client.get(f"/v1/contacts/{contact['id']}", headers=tenant.headers)).json()["data"]
    assert got == contact


async def test_create_twice_is_409_and_keeps_the_first(api, tenant):
    first = (await create(api, tenant, email="a@example.com", firstName="One")).json()["data"]
    second = await create(api, tenant, email="A@example.com", firstName="Two")
    assert second.status_code == 409 and second.json()["error"]["code"] == "CONTACT_ALREADY_EXISTS"
    got = (await api.client.get(f"/v1/contacts/{first['id']}", headers=tenant.headers)).json()["data"]
    assert got["firstName"] == "One"


async def test_same_email_in_two_projects_is_two_contacts(api, tenant, other_tenant):
    mine = (await create(api, tenant, email="a@example.com")).json()["data"]
    theirs = (await create(api, other_tenant, email="a@example.com")).json()["data"]
    assert mine["id"] != theirs["id"] and theirs["projectId"] == other_tenant.project_id


async def test_upsert_creates_then_applies_clearing_rules(api, tenant):
    created = (
        await upsert(
            api,
            tenant,
            email="b@example.com",
            firstName="Bo",
            lastName="Diddley",
            userId="u9",
            mobile="+15551234567",
            customFields={"plan": "free", "old": 1},
        )
    ).json()["data"]
    response = await upsert(
        api,
        tenant,
        email="B@EXAMPLE.com",
        firstName="",
        lastName=None,
        mobile="",
        customFields={"plan": "pro", "old": None, "new": "x"},
    )
    assert response.status_code == 200, response.text
    updated = response.json()["data"]
    assert updated["id"] == created["id"]
    assert updated["firstName"] is None  # "" clears
    assert updated["lastName"] == "Diddley"  # null keeps
    assert updated["userId"] == "u9"  # absent keeps
    assert updated["mobile"] is None
    assert updated["customFields"] == {"plan": "pro", "new": "x"}  # merged; null removes a key
    assert updated["createdAt"] == created["createdAt"] and updated["updatedAt"] >= created["updatedAt"]


async def test_upsert_adds_lists_without_dropping_others(api, tenant):
    first, second = await add_list(api, tenant.project_id, "a"), await add_list(api, tenant.project_id, "b")
    await upsert(api, tenant, email="c@example.com", listIds=[first])
    again = (await upsert(api, tenant, email="c@example.com", listIds=[second, first])).json()["data"]
    assert sorted(again["listIds"]) == sorted([first, second])


async def test_list_ids_must_be_existing_lists_of_the_project(api, tenant, other_tenant):
    segment = await add_list(api, tenant.project_id, "seg", kind="segment")
    foreign = await add_list(api, other_tenant.project_id)
    response = await create(api, tenant, email="d@example.com", listIds=[segment])
    assert response.status_code == 400 and response.json()["error"]["details"][0]["field"] == "listIds"
    for list_ids in ([foreign], ["nope"]):
        response = await upsert(api, tenant, email="d@example.com", listIds=list_ids)
        assert response.status_code == 404 and response.json()["error"]["code"] == "CONTACT_LIST_NOT_FOUND"
    found = await api.client.post(
        "/v1/contacts/search/emails", json={"emails": ["d@example.com"]}, headers=tenant.headers
    )
    assert found.json()["data"]["contacts"] == []  # nothing was written
    ok = await create(api, tenant, email="d@example.com", listIds=["GLOBAL_CONTACT_LIST"])
    assert ok.status_code == 200 and ok.json()["data"]["listIds"] == []


@pytest.mark.parametrize(
    "body,field",
    [
        ({}, "email"),
        ({"email": 5}, "email"),
        ({"email": "not-an-email"}, "email"),
        ({"email": "x@example.test"}, "email"),
        ({"email": "a@example.com", "firstName": 7}, "firstName"),
        ({"email": "a@example.com", "firstName": "x" * 201}, "firstName"),
        ({"email": "a@example.com", "userId": "x" * 201}, "userId"),
        ({"email": "a@example.com", "mobile": "call me"}, "mobile"),
        ({"email": "a@example.com", "listIds": "abc"}, "listIds"),
        ({"email": "a@example.com", "customFields": []}, "customFields"),
        ({"email": "a@example.com", "customFields": {"nested": {"a": 1}}}, "customFields.nested"),
        ({"email": "a@example.com", "customFields": {"email": "x"}}, "customFields.email"),
        ({"email": "a@example.com", "customFields": {"bad key!": "x"}}, "customFields.bad key!"),
    ],
)
async def test_bad_bodies_are_400_and_write_nothing(api, tenant, body, field):
    for path in ("/v1/contacts", "/v1/contacts/email"):
        response = await api.client.post(path, json=body, headers=tenant.headers)
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        assert error["code"] == "VALIDATION_FAILED" and error["details"][0]["field"] == field
    found = await api.client.post(
        "/v1/contacts/search/emails", json=["a@example.com"], headers=tenant.headers
    )
    assert found.json()["data"]["contacts"] == []


async def test_text_fields_accept_the_maximum_length(api, tenant):
    response = await create(
        api, tenant, email="long@example.com", firstName="x" * 200, lastName="y" * 200, userId="z" * 200
    )
    assert response.status_code == 200 and response.json()["data"]["firstName"] == "x" * 200


async def test_custom_fields_follow_property_types(api, tenant):
    for name, kind in (("age", "number"), ("vip", "boolean"), ("birthday", "date"), ("city_name", "string")):
        created = await api.client.post(
            "/v1/contact-properties", json={"name": name, "type": kind}, headers=tenant.headers
        )
        assert created.status_code == 200, created.text
    for fields in ({"age": "41"}, {"age": True}, {"vip": "yes"}, {"birthday": "last week"}, {"city_name": 5}):
        response = await create(api, tenant, email="e@example.com", customFields=fields)
        assert response.status_code == 400, fields
        assert response.json()["error"]["details"][0]["field"] == f"customFields.{next(iter(fields))}"
    good = {
        "age": 41.5,
        "vip": False,
        "birthday": "1990-02-28T10:00:00+02:00",
        "city_name": "Paris",
        "free": 1,
    }
    contact = (await create(api, tenant, email="e@example.com", customFields=good)).json()["data"]
    assert contact["customFields"] == {**good, "birthday": "1990-02-28T08:00:00.000Z"}


async def test_get_and_delete(api, tenant):
    contact = (await create(api, tenant, email="f@example.com")).json()["data"]
    deleted = await api.client.delete(f"/v1/contacts/{contact['id']}", headers=tenant.headers)
    assert deleted.json() == {"success": True, "message": "Contact deleted successfully"}
    for method in ("get", "delete"):
        response = await api.client.request(
            method.upper(), f"/v1/contacts/{contact['id']}", headers=tenant.headers
        )
        assert response.status_code == 404 and response.json()["error"]["code"] == "CONTACT_NOT_FOUND"


async def test_delete_keeps_lists_consistent(api, tenant):
    list_id = await add_list(api, tenant.project_id)
    contact = (await create(api, tenant, email="g@example.com", listIds=[list_id])).json()["data"]
    await api.client.delete(f"/v1/contacts/{contact['id']}", headers=tenant.headers)
    again = (await create(api, tenant, email="g@example.com")).json()["data"]
    assert again["listIds"] == []


async def test_delete_by_user_id(api, tenant):
    await create(api, tenant, email="h1@example.com", userId="shared")
    await create(api, tenant, email="h2@example.com", userId="shared")
    keep = (await create(api, tenant, email="h3@example.com", userId="other")).json()["data"]
    response = await api.client.delete("/v1/contacts/email/userId/shared", headers=tenant.headers)
    assert response.status_code == 200 and response.json()["message"] == "Contact deleted successfully"
    again = await api.client.delete("/v1/contacts/email/userId/shared", headers=tenant.headers)
    assert again.status_code == 404 and again.json()["error"]["code"] == "CONTACT_NOT_FOUND"
    assert (await api.client.get(f"/v1/contacts/{keep['id']}", headers=tenant.headers)).status_code == 200


async def test_unsubscribe_groups_lists_the_groups_of_the_email(api, tenant):
    contact = (await create(api, tenant, email="i@example.com")).json()["data"]
    now = utcnow()
    async with api.db.write() as conn:
        for code, name in (("AB12C3", "Newsletter"), ("ZZ9", "Promotions"), ("QQ1", "Unused")):
            await conn.execute(
                suppression_groups.insert().values(
                    id=ids.new_id(),
                    project_id=tenant.project_id,
                    group_code=code,
                    name=name,
                    created_at=now,
                    updated_at=now,
                )
            )
        groups = dict(
            (await conn.execute(sa.select(suppression_groups.c.group_code, suppression_groups.c.id))).all()
        )
        for code in ("AB12C3", "ZZ9"):
            await conn.execute(
                suppressions.insert().values(
                    id=ids.new_id(),
                    project_id=tenant.project_id,
                    group_id=groups[code],
                    email="i@example.com",
                    reason="UNSUBSCRIBE",
                    created_at=now,
                    updated_at=now,
                )
            )
    response = await api.client.get(
        f"/v1/contacts/{contact['id']}/unsubscribe-groups", headers=tenant.headers
    )
    assert response.json()["data"] == {
        "groups": [{"groupId": "AB12C3", "name": "Newsletter"}, {"groupId": "ZZ9", "name": "Promotions"}]
    }
    missing = await api.client.get(f"/v1/contacts/{'0' * 24}/unsubscribe-groups", headers=tenant.headers)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "CONTACT_NOT_FOUND"


async def test_another_projects_key_sees_404(api, tenant, other_tenant):
    contact = (await create(api, tenant, email="j@example.com", userId="uj")).json()["data"]
    for method, path in (
        ("GET", f"/v1/contacts/{contact['id']}"),
        ("DELETE", f"/v1/contacts/{contact['id']}"),
        ("GET", f"/v1/contacts/{contact['id']}/unsubscribe-groups"),
        ("DELETE", "/v1/contacts/email/userId/uj"),
    ):
        response = await api.client.request(method, path, headers=other_tenant.headers)
        assert response.status_code == 404 and response.json()["error"]["code"] == "CONTACT_NOT_FOUND"
    assert (await api.client.get(f"/v1/contacts/{contact['id']}", headers=tenant.headers)).status_code == 200


ENDPOINTS = [
    ("POST", "/v1/contacts", {"email": "a@example.com"}),
    ("POST", "/v1/contacts/email", {"email": "a@example.com"}),
    ("GET", f"/v1/contacts/{'0' * 24}", None),
    ("DELETE", f"/v1/contacts/{'0' * 24}", None),
    ("DELETE", "/v1/contacts/email/userId/u1", None),
    ("POST", "/v1/contacts/search/emails", {"emails": ["a@example.com"]}),
    ("POST", "/v1/contacts/bulk-update", {"contacts": [{"email": "a@example.com"}]}),
    ("POST", "/v1/contacts/remove", {"emails": ["a@example.com"]}),
    ("GET", f"/v1/contacts/{'0' * 24}/unsubscribe-groups", None),
]


@pytest.mark.parametrize("method,path,body", ENDPOINTS)
async def test_every_endpoint_needs_a_valid_key(api, tenant, method, path, body):
    for headers in ({}, {"Authorization": "Bearer AS_wrong"}, {"Authorization": "Basic abc"}):
        response = await api.client.request(method, path, json=body, headers=headers)
        assert response.status_code == 401 and response.json()["error"]["code"] == "UNAUTHORIZED"


async def test_account_key_needs_project_header(api, tenant):
    account = {"Authorization": f"Bearer {await api.account_key(tenant.project_id)}"}
    missing = await api.client.post("/v1/contacts", json={"email": "k@example.com"}, headers=account)
    assert missing.status_code == 400 and missing.json()["error"]["details"][0]["field"] == "x-project-id"
    made = await api.client.post(
        "/v1/contacts",
        json={"email": "k@example.com"},
        headers={**account, "x-project-id": tenant.project_id},
    )
    assert made.status_code == 200 and made.json()["data"]["projectId"] == tenant.project_id


async def test_segment_ids_follow_the_segments_criteria(api, tenant):
    list_id, now = ids.new_id(), utcnow()
    criteria = {
        "logicalOperator": "AND",
        "groups": [{"field": "plan", "fieldType": "string", "operator": "equals", "value": "pro"}],
    }
    async with api.db.write() as conn:
        await conn.execute(
            contact_lists.insert().values(
                id=list_id,
                project_id=tenant.project_id,
                name="pros",
                type="segment",
                filter_criteria=criteria,
                created_at=now,
                updated_at=now,
            )
        )
    pro = (await upsert(api, tenant, email="pro@example.com", customFields={"plan": "pro"})).json()["data"]
    free = (await upsert(api, tenant, email="free@example.com", customFields={"plan": "free"})).json()["data"]
    assert pro["segmentIds"] == [list_id] and free["segmentIds"] == []
    moved = (await upsert(api, tenant, email="free@example.com", customFields={"plan": "pro"})).json()["data"]
    assert moved["segmentIds"] == [list_id] and moved["listIds"] == []
