"""Dashboard suppression and sender pages over the ASGI app on both databases: groups created,
edited and deactivated, entries searched with filters and pages, addresses suppressed and lifted,
senders added and deleted; the services' errors shown in the page; login, CSRF, other projects."""

from __future__ import annotations

import re

from tests.integration.test_dashboard_pages import _login


async def _groups(api, tenant) -> dict[str, dict]:
    answer = await api.client.get("/v1/suppression-groups", headers=tenant.headers)
    data = answer.json()["data"]
    rows = data if isinstance(data, list) else data.get("groups", data.get("suppressionGroups", []))
    return {g["name"]: g for g in rows}


async def _make_group(api, token: str, name: str) -> str:
    made = await api.client.post("/app/suppressions/groups", data={"name": name, "csrf_token": token})
    assert made.status_code == 303
    page = await api.client.get("/app/suppressions")
    return re.search(rf'data-group="([^"]+)"><td><a href="[^"]+">{name}</a>', page.text)[1]


async def test_pages_need_a_login_and_forms_the_csrf_token(api, tenant):
    for path in ("/app/suppressions", "/app/suppressions/groups/abc", "/app/senders"):
        assert (await api.client.get(path)).headers["location"] == "/app/login"
    await _login(api, tenant)
    posts = [
        ("/app/suppressions/groups", {"name": "Leak"}),
        ("/app/suppressions/entries", {"emails": "a@b.example"}),
        ("/app/suppressions/entries/remove", {"emails": "a@b.example"}),
        ("/app/senders", {"email": "a@b.example"}),
    ]
    for path, data in posts:
        assert (await api.client.post(path, data=data)).status_code == 403
        assert (await api.client.post(path, data={**data, "csrf_token": "forged"})).status_code == 403
    assert "Leak" not in (await api.client.get("/app/suppressions")).text
    assert 'id="entry-total">0 entries' in (await api.client.get("/app/suppressions")).text
    assert "No sender yet" in (await api.client.get("/app/senders")).text


async def test_group_created_edited_and_deactivated(api, tenant):
    token = await _login(api, tenant)
    blank = await api.client.post("/app/suppressions/groups", data={"name": "  ", "csrf_token": token})
    assert (
        blank.status_code == 400 and 'role="alert"' in blank.text and "Name must not be blank" in blank.text
    )
    code = await _make_group(api, token, "Newsletter")
    saved = await api.client.post(
        f"/app/suppressions/groups/{code}",
        data={"name": "Weekly news", "description": "Fridays", "isActive": "on", "csrf_token": token},
    )
    assert saved.status_code == 303
    group = (await _groups(api, tenant))["Weekly news"]
    assert (group["description"], group["isActive"]) == ("Fridays", True)
    refused = await api.client.post(
        f"/app/suppressions/groups/{code}", data={"name": "", "csrf_token": token}
    )
    assert refused.status_code == 400 and "Name must not be blank" in refused.text
    await api.client.post(f"/app/suppressions/groups/{code}/deactivate", data={"csrf_token": token})
    page = await api.client.get(f"/app/suppressions/groups/{code}")
    assert 'id="group-state">inactive<' in page.text and "Weekly news" in page.text
    assert (await _groups(api, tenant))["Weekly news"]["isActive"] is False


async def test_global_group_cannot_be_deactivated(api, tenant):
    token = await _login(api, tenant)
    code = (await _groups(api, tenant))["Global"]["groupId"]
    answer = await api.client.post(f"/app/suppressions/groups/{code}/deactivate", data={"csrf_token": token})
    assert answer.status_code == 400 and "cannot be deactivated" in answer.text
    assert (await _groups(api, tenant))["Global"]["isActive"] is True


async def test_suppress_search_page_and_lift(api, tenant):
    token = await _login(api, tenant)
    code = await _make_group(api, token, "Promos")
    emails = "\n".join(f"user{i:02}@crowd.example" for i in range(55))
    added = await api.client.post(
        "/app/suppressions/entries", data={"emails": emails, "group": code, "csrf_token": token}
    )
    assert added.status_code == 303
    await api.client.post(
        "/app/suppressions/entries", data={"emails": "solo@else.example", "csrf_token": token}
    )
    first = await api.client.get("/app/suppressions", params={"group": code})
    assert 'id="entry-total">55 entries' in first.text and first.text.count("data-entry=") == 50
    assert "page 1 of 2" in first.text
    second = await api.client.get("/app/suppressions", params={"group": code, "page": 2})
    assert second.text.count("data-entry=") == 5
    found = await api.client.get("/app/suppressions", params={"q": "user07", "reason": "MANUAL"})
    assert 'id="entry-total">1 entry' in found.text and "user07@crowd.example" in found.text
    other_reason = await api.client.get("/app/suppressions", params={"q": "user07", "reason": "BOUNCE"})
    assert 'id="entry-total">0 entries' in other_reason.text
    await api.client.post(
        "/app/suppressions/entries/remove",
        data={"emails": "user07@crowd.example, user08@crowd.example", "group": code, "csrf_token": token},
    )
    assert (
        'id="entry-total">53 entries'
        in (await api.client.get("/app/suppressions", params={"group": code})).text
    )
    assert 'id="entry-total">54 entries' in (await api.client.get("/app/suppressions")).text


async def test_bad_input_is_shown_and_changes_nothing(api, tenant):
    token = await _login(api, tenant)
    bad = await api.client.post(
        "/app/suppressions/entries", data={"emails": "ok@a.example not-an-address", "csrf_token": token}
    )
    assert (
        bad.status_code == 400
        and "Address 2: " in bad.text
        and "Invalid email format" not in bad.text
        and "not-an-address" in bad.text
    )
    empty = await api.client.post("/app/suppressions/entries", data={"emails": " ", "csrf_token": token})
    assert empty.status_code == 400 and "at least one address" in empty.text
    reason = await api.client.get("/app/suppressions", params={"reason": "SPAM"})
    assert reason.status_code == 400 and "reason must be one of" in reason.text
    assert 'id="entry-total">0 entries' in (await api.client.get("/app/suppressions")).text
    for page in (0, 1_000_001):  # clamped to the bounds, no error
        assert (await api.client.get("/app/suppressions", params={"page": page})).status_code == 200


async def test_another_projects_groups_are_not_found(api, tenant, other_tenant):
    made = await api.client.post(
        "/v1/suppression-groups", headers=other_tenant.headers, json={"name": "Theirs"}
    )
    code = made.json()["data"]["groupId"]
    token = await _login(api, tenant)
    assert (await api.client.get(f"/app/suppressions/groups/{code}")).status_code == 404
    assert (await api.client.get("/app/suppressions", params={"group": code})).status_code == 404
    for path in (f"/app/suppressions/groups/{code}", f"/app/suppressions/groups/{code}/deactivate"):
        assert (await api.client.post(path, data={"name": "Mine", "csrf_token": token})).status_code == 404
    added = await api.client.post(
        "/app/suppressions/entries", data={"emails": "x@y.example", "group": code, "csrf_token": token}
    )
    assert added.status_code == 400 and "this group no longer exists" in added.text  # as for a deleted one
    theirs = (await _groups(api, other_tenant))["Theirs"]
    assert (theirs["isActive"], theirs["suppressionCount"]) == (True, 0)


async def test_senders_listed_created_and_deleted(api, tenant, other_tenant):
    token = await _login(api, tenant)
    made = await api.client.post(
        "/app/senders",
        data={
            "email": "News@Shop.example",
            "name": "Shop news",
            "replyTo": "help@shop.example",
            "csrf_token": token,
        },
    )
    assert made.status_code == 303
    page = await api.client.get("/app/senders")
    assert "news@shop.example" in page.text and "help@shop.example" in page.text
    again = await api.client.post("/app/senders", data={"email": "news@shop.example", "csrf_token": token})
    assert again.status_code == 409 and "already exists" in again.text
    bad = await api.client.post("/app/senders", data={"email": "nope", "csrf_token": token})
    assert (
        bad.status_code == 400
        and "Email: " in bad.text
        and "Invalid email format" not in bad.text
        and 'value="nope"' in bad.text
    )
    sender_id = re.search(r'data-sender="([0-9a-f]{24})"', page.text)[1]
    theirs = await api.client.post(
        "/v1/senders", headers=other_tenant.headers, json={"email": "a@them.example"}
    )
    their_id = theirs.json()["data"]["sender"]["id"]
    assert (
        await api.client.post(f"/app/senders/{their_id}/delete", data={"csrf_token": token})
    ).status_code == 404
    assert (await api.client.get("/v1/senders", headers=other_tenant.headers)).text.count(their_id) == 1
    assert (
        await api.client.post(f"/app/senders/{sender_id}/delete", data={"csrf_token": token})
    ).status_code == 303
    assert "No sender yet" in (await api.client.get("/app/senders")).text
