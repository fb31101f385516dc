"""Segments through /v1/contact-lists on both databases: creation, counts, sub-segments, search,
segmentIds, and the refusals (bad criteria, bad parent, writing into a segment)."""

from __future__ import annotations

from tests.integration.test_segments_store import make_contacts

BASE = "/v1/contact-lists"
PEOPLE = {
    "ann": {"first_name": "Ann", "custom_fields": {"plan": "pro", "age": 40}},
    "bob": {"first_name": "Bob", "custom_fields": {"plan": "pro", "age": 20}},
    "cat": {"first_name": "Cat", "custom_fields": {"plan": "free", "age": 50}},
}


def crit(field, field_type, operator, value, logical="AND") -> dict:
    return {
        "logicalOperator": logical,
        "groups": [{"field": field, "fieldType": field_type, "operator": operator, "value": value}],
    }


async def segment(api, tenant, name, criteria, parent=None):
    body = {"name": name, "type": "segment", "filterCriteria": criteria}
    if parent:
        body["parentId"] = parent
    return await api.client.post(BASE, json=body, headers=tenant.headers)


async def test_segment_counts_and_sub_segment(api, tenant):
    await make_contacts(api.container.db, tenant.project_id, PEOPLE)
    pro = await segment(api, tenant, "Pro", crit("plan", "string", "equals", "PRO"))
    assert pro.status_code == 200, pro.text
    data = pro.json()["data"]
    assert (data["type"], data["contactCount"], data["parentId"]) == ("segment", 2, None)
    assert data["filterCriteria"] == crit("plan", "string", "equals", "PRO")
    old_pro = (
        await segment(api, tenant, "Old pro", crit("age", "number", "greater_than", 30), data["id"])
    ).json()["data"]
    assert (old_pro["contactCount"], old_pro["parentId"]) == (1, data["id"])
    listed = (await api.client.get(BASE, params={"type": "segment"}, headers=tenant.headers)).json()["data"][
        "lists"
    ]
    assert [(x["name"], x["contactCount"]) for x in listed] == [("Pro", 2), ("Old pro", 1)]
    found = await api.client.post(
        f"{BASE}/contacts/search", json={"contactListId": old_pro["id"]}, headers=tenant.headers
    )
    assert [c["firstName"] for c in found.json()["data"]["contacts"]] == ["Ann"]
    assert (await api.client.get(BASE, params={"type": "list"}, headers=tenant.headers)).json()["data"][
        "lists"
    ][1:] == []


async def test_segment_membership_follows_data(api, tenant):
    pro = (
        await segment(api, tenant, "Example", crit("email", "string", "ends_with", "@example.com"))
    ).json()["data"]
    assert pro["contactCount"] == 0
    add = await api.client.post(
        f"{BASE}/contacts/bulk-add",
        headers=tenant.headers,
        json={"contactListId": "GLOBAL_CONTACT_LIST", "emails": ["a@example.com", "b@test.org"]},
    )
    contacts = {c["email"]: c for c in add.json()["data"]["contacts"]}
    assert (
        contacts["a@example.com"]["segmentIds"] == [pro["id"]] and contacts["b@test.org"]["segmentIds"] == []
    )
    got = (await api.client.get(f"{BASE}/{pro['id']}", headers=tenant.headers)).json()["data"]
    assert got["contactCount"] == 1


async def test_segment_creation_is_validated(api, tenant):
    a_list = (await api.client.post(BASE, json={"name": "Plain"}, headers=tenant.headers)).json()["data"]
    cases = [
        (crit("plan", "string", "greater_than", "x"), None, "filterCriteria.groups[0].operator"),
        (crit("age", "number", "equals", "40"), None, "filterCriteria.groups[0].value"),
        (crit("plan", "string", "equals", "x"), a_list["id"], "parentId"),
        (crit("plan", "string", "equals", "x"), "0" * 24, "parentId"),
        ({"logicalOperator": "AND"}, None, "filterCriteria.groups"),
    ]
    for criteria, parent, field in cases:
        response = await segment(api, tenant, "S", criteria, parent)
        assert response.status_code == 400, (criteria, parent)
        assert response.json()["error"]["details"][0]["field"] == field
    with_parent_on_list = await api.client.post(
        BASE, json={"name": "L", "parentId": a_list["id"]}, headers=tenant.headers
    )
    assert with_parent_on_list.status_code == 400
    assert len((await api.client.get(BASE, headers=tenant.headers)).json()["data"]["lists"]) == 2


async def test_other_projects_segment_is_not_a_parent(api, tenant, other_tenant):
    theirs = (await segment(api, other_tenant, "Theirs", crit("plan", "string", "is_empty", None))).json()[
        "data"
    ]
    response = await segment(api, tenant, "Mine", crit("plan", "string", "is_empty", None), theirs["id"])
    assert response.status_code == 400 and response.json()["error"]["details"][0]["field"] == "parentId"
    assert (await api.client.get(f"{BASE}/{theirs['id']}", headers=tenant.headers)).status_code == 404


async def test_contacts_cannot_be_written_into_a_segment(api, tenant):
    seg = (await segment(api, tenant, "Seg", crit("plan", "string", "is_empty", None))).json()["data"]
    add = await api.client.post(
        f"{BASE}/contacts/bulk-add",
        json={"contactListId": seg["id"], "emails": ["a@example.com"]},
        headers=tenant.headers,
    )
    assert add.status_code == 400 and add.json()["error"]["code"] == "CONTACT_LIST_IS_SEGMENT"
    removed = await api.client.post(
        f"{BASE}/{seg['id']}/contacts/remove", json={"emails": ["a@example.com"]}, headers=tenant.headers
    )
    assert removed.status_code == 400 and removed.json()["error"]["code"] == "CONTACT_LIST_IS_SEGMENT"
    everyone = await api.client.post(
        f"{BASE}/contacts/search", json={"contactListId": "GLOBAL_CONTACT_LIST"}, headers=tenant.headers
    )
    assert everyone.json()["data"]["pagination"]["total"] == 0
