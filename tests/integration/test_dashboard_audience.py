"""Dashboard contacts, lists, segment builder and campaign analytics pages over the ASGI app on
both databases: search and detail, a segment's live count, SVG charts drawn from known events;
login, CSRF and another project's ids (404) on each."""

from __future__ import annotations

import re

from tests.integration.test_dashboard_pages import _login
from tests.support.feedback_data import click_path, open_path, sent_campaign

SEGMENT = {
    "logicalOperator": "AND",
    "field_0": "email",
    "fieldType_0": "string",
    "operator_0": "ends_with",
    "value_0": "@vip.example",
}


async def _people(api, tenant) -> dict[str, str]:
    ids = {}
    for email in ("a@vip.example", "b@vip.example", "c@other.example"):
        made = await api.client.post(
            "/v1/contacts", headers=tenant.headers, json={"email": email, "firstName": "Zed"}
        )
        ids[email] = made.json()["data"]["id"]
    return ids


async def test_pages_need_a_login_and_forms_the_csrf_token(api, tenant):
    for path in (
        "/app/contacts",
        "/app/contacts/0123456789abcdef01234567",
        "/app/lists",
        "/app/campaigns/0123456789abcdef01234567",
    ):
        assert (await api.client.get(path)).headers["location"] == "/app/login"
    await _login(api, tenant)
    for path in ("/app/lists", "/app/segments/count"):
        for token in ({}, {"csrf_token": "forged"}):
            assert (await api.client.post(path, data={"name": "Leak", **SEGMENT, **token})).status_code == 403
    assert "Leak" not in (await api.client.get("/app/lists")).text


async def test_contacts_search_and_detail(api, tenant, other_tenant):
    ids = await _people(api, tenant)
    await _login(api, tenant)
    found = (await api.client.get("/app/contacts", params={"q": "vip.example"})).text
    assert "a@vip.example" in found and "b@vip.example" in found and "c@other.example" not in found
    detail = (await api.client.get(f"/app/contacts/{ids['a@vip.example']}")).text
    assert "a@vip.example" in detail and "Zed" in detail
    theirs = await api.client.post(
        "/v1/contacts", headers=other_tenant.headers, json={"email": "t@them.example"}
    )
    assert (await api.client.get(f"/app/contacts/{theirs.json()['data']['id']}")).status_code == 404
    assert "t@them.example" not in (await api.client.get("/app/contacts")).text


async def test_segment_live_count_and_list_pages(api, tenant, other_tenant):
    await _people(api, tenant)
    token = await _login(api, tenant)
    count = await api.client.post("/app/segments/count", data={**SEGMENT, "csrf_token": token})
    assert 'data-count="2"' in count.text
    made = await api.client.post(
        "/app/lists", data={"name": "VIPs", "type": "segment", **SEGMENT, "csrf_token": token}
    )
    assert made.status_code == 303
    list_id = made.headers["location"].rsplit("/", 1)[1]
    page = (await api.client.get(f"/app/lists/{list_id}")).text
    assert 'id="member-count">2<' in page and "c@other.example" not in page
    theirs = await api.client.post("/v1/contact-lists", headers=other_tenant.headers, json={"name": "Theirs"})
    their_id = theirs.json()["data"]["id"]
    assert (await api.client.get(f"/app/lists/{their_id}")).status_code == 404
    assert (
        await api.client.post(f"/app/lists/{their_id}/delete", data={"csrf_token": token})
    ).status_code == 404


async def test_analytics_charts_follow_known_events(api, tenant, other_tenant):
    cid, rows = await sent_campaign(api.db, tenant.project_id, 6)
    for row in rows[:3]:
        await api.client.get(open_path(row["id"]))
    for row, url in (
        (rows[0], "https://shop.example/a"),
        (rows[1], "https://shop.example/a"),
        (rows[2], "https://shop.example/b"),
    ):
        await api.client.get(click_path(row["id"], url))
    await api.app.state.tracking.recorder.flush()
    await _login(api, tenant)
    page = (await api.client.get(f"/app/campaigns/{cid}")).text
    lines = re.findall(r'<polyline[^>]*points="([^"]+)"><title>(\w+)</title>', page)
    assert [name for _, name in lines] == ["opened", "clicked"]
    assert all(len(points.split()) == 24 for points, _ in lines)
    bars = re.findall(r"<title>([^<]+): (\d+) clicks</title>", page)
    assert bars == [("https://shop.example/a", "2"), ("https://shop.example/b", "1")]
    assert page.count("<rect") == 2
    their_cid, _ = await sent_campaign(api.db, other_tenant.project_id, 1)
    assert (await api.client.get(f"/app/campaigns/{their_cid}")).status_code == 404
