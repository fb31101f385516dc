"""Entries into list-triggered automations through the contacts API, on both databases: a contact
enters contact_added_to_list only when it was not in the list already (an upsert naming a list
it is in adds nothing), and a contact made by POST /contacts/email/duplicate is a created contact
added to the source's lists."""

from __future__ import annotations

from tests.support.automation_data import automation, contact, runs, series


async def _list(api, tenant, name: str) -> str:
    made = await api.client.post("/v1/contact-lists", json={"name": name}, headers=tenant.headers)
    assert made.status_code in (200, 201), made.text
    return made.json()["data"]["id"]


async def _joined(api, tenant, list_id: str) -> str:
    entry = {"type": "contact_added_to_list", "contactListId": list_id}
    return await automation(api, tenant, steps=series(0), entryCriteria=entry)


async def test_an_upsert_naming_a_list_the_contact_is_in_is_no_entry(api, tenant):
    vip, beta = await _list(api, tenant, "VIP"), await _list(api, tenant, "Beta")
    ann = await contact(api, tenant, "ann@example.com", listIds=[vip])
    in_vip, in_beta = await _joined(api, tenant, vip), await _joined(api, tenant, beta)
    upsert = await api.client.post(
        "/v1/contacts/email",
        json={"email": "ann@example.com", "listIds": [vip, beta], "firstName": "Ann"},
        headers=tenant.headers,
    )
    assert upsert.status_code == 200, upsert.text
    assert sorted(upsert.json()["data"]["listIds"]) == sorted([vip, beta])
    assert await runs(api.db, in_vip) == []  # she was in VIP before: not added now
    assert [r["contact_id"] for r in await runs(api.db, in_beta)] == [ann]


async def test_a_duplicated_contact_enters_as_a_created_contact_of_the_copied_lists(api, tenant):
    vip = await _list(api, tenant, "VIP")
    await contact(api, tenant, "ann@example.com", listIds=[vip])
    created = await automation(api, tenant, steps=series(0))
    in_vip = await _joined(api, tenant, vip)
    copied = await api.client.post(
        "/v1/contacts/email/duplicate",
        json={"sourceEmail": "ann@example.com", "newEmail": "ann.copy@example.com"},
        headers=tenant.headers,
    )
    assert copied.status_code == 201, copied.text
    copy_id = copied.json()["data"]["newContact"]["id"]
    assert [r["contact_id"] for r in await runs(api.db, created)] == [copy_id]
    assert [r["contact_id"] for r in await runs(api.db, in_vip)] == [copy_id]
