"""Contact pages over the ASGI app on both databases: add a contact (typed properties, lists),
a duplicate or a bad value refused in plain words with nothing saved, edit (a blank field clears
it), unsubscribe from everything or a group and resubscribe, delete; another project's contact
is not found."""

from __future__ import annotations

import re

from tests.integration.test_dashboard_campaign_page import _login


async def _add(api, token: str, **fields) -> object:
    return await api.client.post("/app/contacts/new", data={"csrf_token": token, **fields})


async def _v1(api, tenant, contact_id: str) -> dict:
    return (await api.client.get(f"/v1/contacts/{contact_id}", headers=tenant.headers)).json()["data"]


async def test_add_edit_and_delete_a_contact(api, tenant):
    token = await _login(api, tenant)
    await api.client.post("/app/properties", data={"csrf_token": token, "name": "score", "type": "number"})
    crowd = (
        await api.client.post("/v1/contact-lists", headers=tenant.headers, json={"name": "Crowd"})
    ).json()["data"]
    form = (await api.client.get("/app/contacts/new")).text
    assert 'name="cf_score"' in form and f'value="{crowd["id"]}"' in form
    made = await _add(
        api,
        token,
        email="Ada@Shop.example",
        firstName="Ada",
        lastName="Lovelace",
        cf_score="42",
        listIds=crowd["id"],
    )
    assert made.status_code == 303
    contact_id = made.headers["location"].rsplit("/", 1)[1]
    stored = await _v1(api, tenant, contact_id)
    assert (stored["email"], stored["lastName"], stored["customFields"], stored["listIds"]) == (
        "ada@shop.example",
        "Lovelace",
        {"score": 42},
        [crowd["id"]],
    )
    again = await _add(api, token, email="ada@shop.example")
    assert again.status_code == 400 and "already exists" in again.text
    bad = await _add(api, token, email="bob@shop.example", cf_score="lots")
    assert bad.status_code == 400 and "is not a number" in bad.text and "customFields.score" not in bad.text
    assert "bob@shop.example" not in (await api.client.get("/app/contacts")).text
    edited = await api.client.post(
        f"/app/contacts/{contact_id}/edit",
        data={"csrf_token": token, "firstName": "Augusta Ada", "lastName": "", "cf_score": "43.5"},
    )
    assert edited.status_code == 303
    stored = await _v1(api, tenant, contact_id)
    assert (stored["firstName"], stored["lastName"], stored["customFields"]) == (
        "Augusta Ada",
        None,
        {"score": 43.5},
    )
    assert stored["listIds"] == [crowd["id"]]  # editing never drops a list
    await api.client.post(f"/app/contacts/{contact_id}/delete", data={"csrf_token": token})
    assert (await api.client.get(f"/v1/contacts/{contact_id}", headers=tenant.headers)).status_code == 404


async def test_unsubscribe_from_everything_or_a_group_and_resubscribe(api, tenant):
    token = await _login(api, tenant)
    made = await _add(api, token, email="cat@shop.example")
    path = made.headers["location"]
    page = (await api.client.get(path)).text
    group = re.search(r'<option value="([A-Z0-9]+)">the group “Default”', page)[1]
    await api.client.post(f"{path}/unsubscribe", data={"csrf_token": token, "group": "global"})
    await api.client.post(f"{path}/unsubscribe", data={"csrf_token": token, "group": group})
    page = (await api.client.get(path)).text
    unsubscribed = re.findall(r'<li data-group="(\w+)">', page)
    assert len(unsubscribed) == 2 and group in unsubscribed and "Unsubscribed: no more mail" in page
    await api.client.post(f"{path}/resubscribe", data={"csrf_token": token, "group": group})
    assert re.findall(r'<li data-group="(\w+)">', (await api.client.get(path)).text) == [
        g for g in unsubscribed if g != group
    ]


async def test_another_projects_contact_is_not_found(api, tenant, other_tenant):
    token = await _login(api, tenant)
    theirs = (
        await api.client.post(
            "/v1/contacts", headers=other_tenant.headers, json={"email": "eve@other.example"}
        )
    ).json()["data"]["id"]
    assert (await api.client.get(f"/app/contacts/{theirs}/edit")).status_code == 404
    for action in ("edit", "delete", "unsubscribe"):
        answer = await api.client.post(
            f"/app/contacts/{theirs}/{action}", data={"csrf_token": token, "group": "global"}
        )
        assert answer.status_code == 404, action
    assert (await api.client.get(f"/v1/contacts/{theirs}", headers=other_tenant.headers)).status_code == 200
