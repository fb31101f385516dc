"""/v1/contact-lists over HTTP on both databases: lists, the global list, bulk add, search, remove, delete."""

from __future__ import annotations

import pytest

from sendhouse.domain import ids
from sendhouse.domain.times import utcnow
from sendhouse.store.schema.campaigns import campaigns

BASE = "/v1/contact-lists"


async def make_list(api, tenant, name="Customers", **extra) -> dict:
    response = await api.client.post(BASE, json={"name": name, **extra}, headers=tenant.headers)
    assert response.status_code == 200, response.text
    return response.json()["data"]


async def bulk_add(api, tenant, list_id, **refs):
    return await api.client.post(
        f"{BASE}/contacts/bulk-add", json={"contactListId": list_id, **refs}, headers=tenant.headers
    )


async def search(api, tenant, list_id, **extra) -> dict:
    response = await api.client.post(
        f"{BASE}/contacts/search", json={"contactListId": list_id, **extra}, headers=tenant.headers
    )
    assert response.status_code == 200, response.text
    return response.json()["data"]


async def test_auth_is_required(api, tenant):
    assert (await api.client.get(BASE)).status_code == 401
    assert (await api.client.get(BASE, headers={"Authorization": "Bearer AS_nope"})).status_code == 401
    assert (await api.client.post(f"{BASE}/contacts/search", json={"contactListId": "x"})).status_code == 401


async def test_global_list_comes_first_with_every_contact(api, tenant, other_tenant):
    customers = await make_list(api, tenant)
    await bulk_add(api, tenant, customers["id"], emails=["a@example.com", "b@example.com"])
    await bulk_add(api, tenant, "GLOBAL_CONTACT_LIST", emails=["c@example.com"])
    await bulk_add(api, other_tenant, "GLOBAL_CONTACT_LIST", emails=["z@example.com"])
    lists = (await api.client.get(BASE, headers=tenant.headers)).json()["data"]["lists"]
    assert [(entry["id"], entry["contactCount"]) for entry in lists] == [
        ("GLOBAL_CONTACT_LIST", 3),
        (customers["id"], 2),
    ]
    assert lists[0]["name"] == "All Contacts" and lists[0]["type"] == "list"
    one = (await api.client.get(f"{BASE}/GLOBAL_CONTACT_LIST", headers=tenant.headers)).json()["data"]
    assert one["contactCount"] == 3
    segments_only = (await api.client.get(BASE, params={"type": "segment"}, headers=tenant.headers)).json()[
        "data"
    ]
    assert segments_only["lists"] == []  # "All Contacts" is a list, not a segment
    lists_only = (await api.client.get(BASE, params={"type": "list"}, headers=tenant.headers)).json()["data"]
    assert [entry["id"] for entry in lists_only["lists"]] == ["GLOBAL_CONTACT_LIST", customers["id"]]
    bad = await api.client.get(BASE, params={"type": "folder"}, headers=tenant.headers)
    assert bad.status_code == 400


async def test_create_and_get_list_shape(api, tenant):
    created = await make_list(api, tenant, "VIPs", description="best")
    assert set(created) == {
        "id",
        "name",
        "description",
        "type",
        "contactCount",
        "filterCriteria",
        "parentId",
        "createdAt",
        "updatedAt",
    }
    assert (created["type"], created["contactCount"], created["filterCriteria"], created["parentId"]) == (
        "list",
        0,
        None,
        None,
    )
    got = (await api.client.get(f"{BASE}/{created['id']}", headers=tenant.headers)).json()["data"]
    assert got == created


async def test_create_validates(api, tenant):
    await make_list(api, tenant, "Taken")
    cases = [
        ({}, "name"),
        ({"name": 7}, "name"),
        ({"name": ""}, "name"),
        ({"name": "  "}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"name": "taken"}, "name"),
        ({"name": "a", "description": "d" * 501}, "description"),
        ({"name": "a", "type": "folder"}, "type"),
        ({"name": "a", "type": "segment"}, "filterCriteria"),
        ({"name": "a", "filterCriteria": {"groups": []}}, "filterCriteria"),
        ({"name": "a", "type": "segment", "filterCriteria": "email"}, "filterCriteria"),
    ]
    for body, field in cases:
        response = await api.client.post(BASE, json=body, headers=tenant.headers)
        assert response.status_code == 400, body
        error = response.json()["error"]
        assert error["code"] == "VALIDATION_FAILED" and error["details"][0]["field"].startswith(field), (
            body,
            error,
        )
    assert len((await api.client.get(BASE, headers=tenant.headers)).json()["data"]["lists"]) == 2
    await make_list(api, tenant, "x" * 200, description="d" * 500)


async def test_not_found_and_other_project(api, tenant, other_tenant):
    theirs = await make_list(api, other_tenant)
    for list_id in ("0" * 24, theirs["id"]):
        got = await api.client.get(f"{BASE}/{list_id}", headers=tenant.headers)
        assert got.status_code == 404 and got.json()["error"]["code"] == "CONTACT_LIST_NOT_FOUND"
        assert (await api.client.delete(f"{BASE}/{list_id}", headers=tenant.headers)).status_code == 404
        assert (await bulk_add(api, tenant, list_id, emails=["a@example.com"])).status_code == 404
        found = await api.client.post(
            f"{BASE}/contacts/search", json={"contactListId": list_id}, headers=tenant.headers
        )
        assert found.status_code == 404
        removed = await api.client.post(
            f"{BASE}/{list_id}/contacts/remove", json={"emails": ["a@example.com"]}, headers=tenant.headers
        )
        assert removed.status_code == 404
    assert (await search(api, other_tenant, theirs["id"]))["pagination"]["total"] == 0


async def test_bulk_add_creates_reports_and_is_idempotent(api, tenant):
    customers = await make_list(api, tenant)
    await api.client.post(
        "/v1/suppression-groups/emails/suppress",
        json={"emails": ["s@example.com"], "isGlobal": True},
        headers=tenant.headers,
    )
    first = await bulk_add(
        api, tenant, customers["id"], emails=["A@Example.com", "a@example.com", "s@example.com", "bad@"]
    )
    assert first.status_code == 200, first.text
    data = first.json()["data"]
    assert (data["added"], data["created"], data["alreadyInList"], data["totalContactsInList"]) == (
        2,
        2,
        0,
        2,
    )
    assert data["errors"] == [{"email": "bad@", "error": "Invalid email format"}]
    assert data["validation"]["invalid"] == [
        {"email": "bad@", "status": "invalid", "reason": "Invalid email format"}
    ]
    assert data["validation"]["valid"] == [{"email": "a@example.com", "status": "valid"}]
    assert data["validation"]["suppressed"] == [{"email": "s@example.com", "status": "suppressed"}]
    contact = next(c for c in data["contacts"] if c["email"] == "a@example.com")
    assert (
        contact["listIds"] == [customers["id"]]
        and contact["segmentIds"] == []
        and contact["projectId"] == tenant.project_id
    )
    again = (
        await bulk_add(api, tenant, customers["id"], emails=["a@example.com", "new@example.com"])
    ).json()["data"]
    assert (again["added"], again["created"], again["alreadyInList"], again["totalContactsInList"]) == (
        1,
        1,
        1,
        3,
    )


async def test_bulk_add_by_contact_ids(api, tenant, other_tenant):
    source = await make_list(api, tenant, "Source")
    target = await make_list(api, tenant, "Target")
    made = (await bulk_add(api, tenant, source["id"], emails=["a@example.com", "b@example.com"])).json()[
        "data"
    ]["contacts"]
    theirs = (await bulk_add(api, other_tenant, "GLOBAL_CONTACT_LIST", emails=["z@example.com"])).json()[
        "data"
    ]["contacts"]
    wanted = [made[0]["id"], theirs[0]["id"]]
    data = (await bulk_add(api, tenant, target["id"], contactIds=wanted)).json()["data"]
    assert (data["added"], data["created"], data["totalContactsInList"]) == (1, 0, 1)
    assert data["errors"] == [{"contactId": theirs[0]["id"], "error": "Contact not found"}]
    assert sorted(data["contacts"][0]["listIds"]) == sorted([source["id"], target["id"]])


async def test_bulk_add_bounds_and_types(api, tenant):
    customers = await make_list(api, tenant)
    emails = [f"u{i:03d}@example.com" for i in range(501)]
    over = await bulk_add(api, tenant, customers["id"], emails=emails)
    assert over.status_code == 400 and over.json()["error"]["code"] == "VALIDATION_FAILED"
    for refs in [
        {},
        {"emails": []},
        {"emails": ["a@example.com"], "contactIds": ["x"]},
        {"emails": "a@example.com"},
        {"emails": [1]},
        {"contactIds": [f"{i:024d}" for i in range(501)]},
    ]:
        assert (await bulk_add(api, tenant, customers["id"], **refs)).status_code == 400, refs
    missing_list = await api.client.post(
        f"{BASE}/contacts/bulk-add", json={"emails": ["a@example.com"]}, headers=tenant.headers
    )
    assert missing_list.status_code == 400
    assert (await search(api, tenant, "GLOBAL_CONTACT_LIST"))["pagination"]["total"] == 0
    full = await bulk_add(api, tenant, customers["id"], emails=emails[:500])
    assert full.status_code == 200 and full.json()["data"]["added"] == 500


async def test_search_pages_and_filters_by_email(api, tenant):
    customers = await make_list(api, tenant)
    await bulk_add(api, tenant, customers["id"], emails=[f"user{i:02d}@example.com" for i in range(25)])
    await bulk_add(
        api, tenant, "GLOBAL_CONTACT_LIST", emails=["outside@test.org", "a_b@test.org", "axb@test.org"]
    )
    page = await search(api, tenant, customers["id"], limit=10, page=3)
    assert page["pagination"] == {"page": 3, "limit": 10, "total": 25, "pages": 3, "totalPages": 3}
    assert len(page["contacts"]) == 5
    assert set(page["contacts"][0]) == {"id", "email", "firstName", "lastName", "createdAt", "updatedAt"}
    assert [c["email"] for c in (await search(api, tenant, customers["id"], email="USER1"))["contacts"]] == [
        f"user1{i}@example.com" for i in range(10)
    ]
    assert (await search(api, tenant, "GLOBAL_CONTACT_LIST", limit=100))["pagination"]["total"] == 28
    assert [
        c["email"] for c in (await search(api, tenant, "GLOBAL_CONTACT_LIST", email="a_b"))["contacts"]
    ] == ["a_b@test.org"]
    for body in [{"limit": 101}, {"limit": 0}, {"page": 0}, {"limit": "5"}]:
        response = await api.client.post(
            f"{BASE}/contacts/search", json={"contactListId": customers["id"], **body}, headers=tenant.headers
        )
        assert response.status_code == 400, body
    assert len((await search(api, tenant, customers["id"], limit=100))["contacts"]) == 25


async def test_remove_contacts(api, tenant):
    customers = await make_list(api, tenant)
    await bulk_add(api, tenant, customers["id"], emails=["a@example.com", "b@example.com"])
    await bulk_add(api, tenant, "GLOBAL_CONTACT_LIST", emails=["c@example.com"])
    url = f"{BASE}/{customers['id']}/contacts/remove"
    body = {"emails": ["A@example.com", "c@example.com", "nobody@example.com"]}
    response = await api.client.post(url, json=body, headers=tenant.headers)
    assert response.status_code == 200, response.text
    assert response.json()["data"] == {
        "removed": 1,
        "notInList": 1,
        "errors": [{"email": "nobody@example.com", "error": "Contact not found"}],
    }
    assert [c["email"] for c in (await search(api, tenant, customers["id"]))["contacts"]] == ["b@example.com"]
    assert (await search(api, tenant, "GLOBAL_CONTACT_LIST"))["pagination"]["total"] == 3
    glob = await api.client.post(
        f"{BASE}/GLOBAL_CONTACT_LIST/contacts/remove", json=body, headers=tenant.headers
    )
    assert glob.status_code == 400 and glob.json()["error"]["code"] == "CANNOT_MODIFY_GLOBAL_CONTACT_LIST"
    assert (await api.client.post(url, json={"emails": []}, headers=tenant.headers)).status_code == 400


async def _campaign(api, tenant, status, to_lists=(), exclude_lists=()) -> None:
    now = utcnow()
    async with api.container.db.write() as conn:
        await conn.execute(
            campaigns.insert().values(
                id=ids.new_id(),
                project_id=tenant.project_id,
                name="c",
                subject="s",
                to_lists=list(to_lists),
                exclude_lists=list(exclude_lists),
                status=status,
                send_mode="all",
                created_at=now,
                updated_at=now,
            )
        )


@pytest.mark.parametrize("status", ["draft", "scheduled", "sending", "paused"])
async def test_delete_refused_while_an_unfinished_campaign_uses_it(api, tenant, status):
    used = await make_list(api, tenant, "Used")
    excluded = await make_list(api, tenant, "Excluded")
    await _campaign(api, tenant, status, to_lists=[used["id"]], exclude_lists=[excluded["id"]])
    for target in (used, excluded):
        response = await api.client.delete(f"{BASE}/{target['id']}", headers=tenant.headers)
        assert (
            response.status_code == 400
            and response.json()["error"]["code"] == "CANNOT_DELETE_CONTACT_LIST_IN_USE"
        )
        assert (await api.client.get(f"{BASE}/{target['id']}", headers=tenant.headers)).status_code == 200


async def test_delete_is_soft_and_allowed_after_campaigns_finish(api, tenant):
    done = await make_list(api, tenant, "Done")
    await bulk_add(api, tenant, done["id"], emails=["a@example.com"])
    for status in ("sent", "failed", "aborted"):
        await _campaign(api, tenant, status, to_lists=[done["id"]])
    response = await api.client.delete(f"{BASE}/{done['id']}", headers=tenant.headers)
    assert response.status_code == 200
    assert response.json()["message"] == "Contact list deleted successfully"
    assert response.json()["data"]["id"] == done["id"] and response.json()["data"]["contactCount"] == 1
    assert (await api.client.get(f"{BASE}/{done['id']}", headers=tenant.headers)).status_code == 404
    assert (await api.client.delete(f"{BASE}/{done['id']}", headers=tenant.headers)).status_code == 404
    assert [
        entry["id"] for entry in (await api.client.get(BASE, headers=tenant.headers)).json()["data"]["lists"]
    ] == ["GLOBAL_CONTACT_LIST"]
    assert (await search(api, tenant, "GLOBAL_CONTACT_LIST"))["pagination"]["total"] == 1
    await make_list(api, tenant, "Done")  # the name is free again
    glob = await api.client.delete(f"{BASE}/GLOBAL_CONTACT_LIST", headers=tenant.headers)
    assert glob.status_code == 400 and glob.json()["error"]["code"] == "CANNOT_DELETE_GLOBAL_CONTACT_LIST"
