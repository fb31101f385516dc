"""Editing a segment from the dashboard, over the ASGI app on both databases: its name and
conditions change (a known field's own type wins), a bad condition or a taken name is refused in
words and changes nothing, a list has no conditions to edit, another project's segment is not
found."""

from __future__ import annotations

from tests.integration.test_dashboard_campaign_page import _login

READERS = {
    "logicalOperator": "AND",
    "groups": [{"field": "firstName", "fieldType": "string", "operator": "starts_with", "value": "Reader"}],
}


async def _segment(api, tenant, name: str = "Readers") -> str:
    for i in range(3):
        await api.client.post(
            "/v1/contacts",
            headers=tenant.headers,
            json={"email": f"r{i}@shop.example", "firstName": f"Reader{i}"},
        )
    made = await api.client.post(
        "/v1/contact-lists",
        headers=tenant.headers,
        json={"name": name, "type": "segment", "filterCriteria": READERS},
    )
    return made.json()["data"]["id"]


def _form(token: str, **changes) -> dict:
    return {
        "csrf_token": token,
        "type": "segment",
        "name": "Readers",
        "logicalOperator": "AND",
        "field_0": "firstName",
        "fieldType_0": "number",
        "operator_0": "starts_with",
        "value_0": "Reader1",
        **changes,
    }


async def _stored(api, tenant, segment_id: str) -> dict:
    return (await api.client.get(f"/v1/contact-lists/{segment_id}", headers=tenant.headers)).json()["data"]


async def test_a_segment_is_edited(api, tenant):
    token = await _login(api, tenant)
    segment_id = await _segment(api, tenant)
    page = (await api.client.get(f"/app/lists/{segment_id}/edit")).text
    assert 'id="field_0" name="field_0" list="segment-fields" value="firstName"' in page
    assert '<option value="starts_with" data-types="string" selected>starts with</option>' in page
    saved = await api.client.post(f"/app/lists/{segment_id}/edit", data=_form(token, name="First reader"))
    assert saved.status_code == 303
    stored = await _stored(api, tenant, segment_id)
    assert (stored["name"], stored["contactCount"]) == ("First reader", 1)
    assert stored["filterCriteria"]["groups"] == [
        {"field": "firstName", "fieldType": "string", "operator": "starts_with", "value": "Reader1"}
    ]


async def test_a_bad_condition_or_a_taken_name_changes_nothing(api, tenant):
    token = await _login(api, tenant)
    segment_id = await _segment(api, tenant)
    await api.client.post("/v1/contact-lists", headers=tenant.headers, json={"name": "Taken"})
    bad = await api.client.post(f"/app/lists/{segment_id}/edit", data=_form(token, operator_0="greater_than"))
    assert bad.status_code == 400 and "Condition 1, operator" in bad.text and "filterCriteria" not in bad.text
    taken = await api.client.post(f"/app/lists/{segment_id}/edit", data=_form(token, name="taken"))
    assert taken.status_code == 400 and "already exists" in taken.text
    stored = await _stored(api, tenant, segment_id)
    assert (stored["name"], stored["filterCriteria"]) == ("Readers", READERS)


async def test_lists_and_other_projects_segments_cannot_be_edited(api, tenant, other_tenant):
    token = await _login(api, tenant)
    plain = (
        await api.client.post("/v1/contact-lists", headers=tenant.headers, json={"name": "Plain"})
    ).json()["data"]
    assert (await api.client.get(f"/app/lists/{plain['id']}/edit")).headers[
        "location"
    ] == f"/app/lists/{plain['id']}"
    refused = await api.client.post(f"/app/lists/{plain['id']}/edit", data=_form(token))
    assert refused.status_code == 400 and "Only a segment" in refused.text
    theirs = await _segment(api, other_tenant)
    assert (await api.client.get(f"/app/lists/{theirs}/edit")).status_code == 404
    assert (await api.client.post(f"/app/lists/{theirs}/edit", data=_form(token))).status_code == 404
