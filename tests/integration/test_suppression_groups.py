"""/v1/suppression-groups over HTTP on both databases, and the suppress/is_suppressed service calls."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from sendhouse.domain.times import iso, utcnow
from sendhouse.services import suppressions as service
from sendhouse.store.schema.audience import suppressions

BASE = "/v1/suppression-groups"


async def make_group(api, tenant, name="Newsletter") -> dict:
    response = await api.client.post(
        BASE, json={"name": name, "description": "weekly"}, headers=tenant.headers
    )
    assert response.status_code == 200, response.text
    return response.json()["data"]


async def suppress(api, tenant, emails, **extra) -> dict:
    response = await api.client.post(
        f"{BASE}/emails/suppress", json={"emails": emails, **extra}, headers=tenant.headers
    )
    return response


async def test_missing_and_wrong_key_are_401(api):
    assert (await api.client.get(BASE)).status_code == 401
    wrong = await api.client.get(BASE, headers={"Authorization": "Bearer AS_wrong"})
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "UNAUTHORIZED"
    posted = await api.client.post(f"{BASE}/emails/suppress", json={"emails": ["a@example.com"]})
    assert posted.status_code == 401


async def test_every_project_starts_with_a_global_and_a_default_group(api, tenant):
    groups = (await api.client.get(BASE, headers=tenant.headers)).json()["data"]["groups"]
    assert len(groups) == 2
    group, default = groups
    assert group["isGlobal"] is True and group["isActive"] is True and group["suppressionCount"] == 0
    assert group["groupId"].isupper() and len(group["groupId"]) == 6 and len(group["id"]) == 24
    assert (default["name"], default["isGlobal"], default["isDefault"], default["isActive"]) == (
        "Default",
        False,
        True,
        True,
    )
    assert group["isDefault"] is False


async def test_create_get_update_delete(api, tenant):
    created = await make_group(api, tenant)
    assert (
        created["name"] == "Newsletter"
        and created["description"] == "weekly"
        and created["isGlobal"] is False
    )
    code = created["groupId"]
    got = (await api.client.get(f"{BASE}/{code}", headers=tenant.headers)).json()["data"]
    assert got == created
    put = await api.client.put(
        f"{BASE}/{code}", json={"name": "Weekly", "isActive": False}, headers=tenant.headers
    )
    assert put.status_code == 200
    assert put.json()["data"]["name"] == "Weekly" and put.json()["data"]["isActive"] is False
    assert put.json()["data"]["description"] == "weekly"
    deleted = await api.client.delete(f"{BASE}/{code}", headers=tenant.headers)
    assert deleted.json() == {"success": True, "message": "Suppression group deleted successfully"}
    gone = await api.client.get(f"{BASE}/{code}", headers=tenant.headers)
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "GROUP_NOT_FOUND"


async def test_listing_filters_global(api, tenant):
    await make_group(api, tenant, "B")
    listed = (await api.client.get(BASE, headers=tenant.headers)).json()["data"]["groups"]
    assert [g["isGlobal"] for g in listed] == [True, False, False]
    assert [g["name"] for g in listed] == ["Global", "Default", "B"]
    only = (await api.client.get(BASE, params={"onlyGlobal": "true"}, headers=tenant.headers)).json()["data"][
        "groups"
    ]
    assert [g["isGlobal"] for g in only] == [True]
    without = await api.client.get(BASE, params={"includeGlobal": "false"}, headers=tenant.headers)
    assert [g["name"] for g in without.json()["data"]["groups"]] == ["Default", "B"]
    bad = await api.client.get(BASE, params={"onlyGlobal": "maybe"}, headers=tenant.headers)
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "VALIDATION_FAILED"


async def test_create_validates_types_and_limits(api, tenant):
    cases = [
        {},
        {"name": 5},
        {"name": ""},
        {"name": "   "},
        {"name": "x" * 201},
        {"name": "a", "isActive": "yes"},
        {"name": "a", "description": "d" * 501},
    ]
    for body in cases:
        response = await api.client.post(BASE, json=body, headers=tenant.headers)
        assert response.status_code == 400, body
        assert response.json()["error"]["code"] == "VALIDATION_FAILED"
    assert len((await api.client.get(BASE, headers=tenant.headers)).json()["data"]["groups"]) == 2
    assert (await api.client.post(BASE, json={"name": "x" * 200}, headers=tenant.headers)).status_code == 200


async def test_global_group_cannot_be_deleted_or_deactivated(api, tenant):
    group, _default = (await api.client.get(BASE, headers=tenant.headers)).json()["data"]["groups"]
    deleted = await api.client.delete(f"{BASE}/{group['groupId']}", headers=tenant.headers)
    assert deleted.status_code == 400 and deleted.json()["error"]["code"] == "CANNOT_DELETE_GLOBAL_GROUP"
    off = await api.client.put(f"{BASE}/{group['groupId']}", json={"isActive": False}, headers=tenant.headers)
    assert off.status_code == 400 and off.json()["error"]["code"] == "CANNOT_DEACTIVATE_GLOBAL_GROUP"
    renamed = await api.client.put(
        f"{BASE}/{group['groupId']}", json={"name": "Everyone"}, headers=tenant.headers
    )
    assert renamed.json()["data"]["name"] == "Everyone" and renamed.json()["data"]["isActive"] is True


async def test_default_group_cannot_be_deleted_but_can_be_renamed(api, tenant):
    _global, default = (await api.client.get(BASE, headers=tenant.headers)).json()["data"]["groups"]
    deleted = await api.client.delete(f"{BASE}/{default['groupId']}", headers=tenant.headers)
    assert deleted.status_code == 400 and deleted.json()["error"]["code"] == "CANNOT_DELETE_DEFAULT_GROUP"
    renamed = await api.client.put(
        f"{BASE}/{default['groupId']}", json={"name": "General"}, headers=tenant.headers
    )
    assert renamed.json()["data"]["name"] == "General" and renamed.json()["data"]["isDefault"] is True
    await suppress(api, tenant, ["a@example.com"])
    assert (await api.client.get(f"{BASE}/{default['groupId']}", headers=tenant.headers)).json()["data"][
        "suppressionCount"
    ] == 1


async def test_a_project_without_a_default_group_gets_one_when_needed(api, tenant):
    from sendhouse.store.schema.audience import suppression_groups

    async with api.db.write() as conn:  # as a project made before default groups existed
        await conn.execute(suppression_groups.delete().where(suppression_groups.c.is_default.is_(True)))
    assert (await suppress(api, tenant, ["a@example.com"])).json()["data"] == {"suppressed": 1}
    groups = (await api.client.get(BASE, headers=tenant.headers)).json()["data"]["groups"]
    assert [(g["name"], g["isDefault"], g["suppressionCount"]) for g in groups] == [
        ("Global", False, 0),
        ("Default", True, 1),
    ]


async def test_suppress_wrong_types_and_other_projects_group(api, tenant, other_tenant):
    theirs = (await api.client.get(BASE, headers=other_tenant.headers)).json()["data"]["groups"][1]
    for body in (
        {"emails": ["a@example.com"], "isGlobal": "true"},
        {"emails": ["a@example.com"], "groupId": 5},
    ):
        response = await api.client.post(f"{BASE}/emails/suppress", json=body, headers=tenant.headers)
        assert response.status_code == 400 and response.json()["error"]["code"] == "VALIDATION_FAILED"
    foreign = await suppress(api, tenant, ["a@example.com"], groupId=theirs["groupId"])
    assert foreign.status_code == 404 and foreign.json()["error"]["code"] == "GROUP_NOT_FOUND"
    assert (await _search(api, tenant))["pagination"]["total"] == 0


async def test_unknown_and_other_projects_group_are_404(api, tenant, other_tenant):
    theirs = await make_group(api, other_tenant)
    for code in ("NOPE42", theirs["groupId"]):
        for method in ("GET", "PUT", "DELETE"):
            response = await api.client.request(
                method, f"{BASE}/{code}", json={"name": "x"}, headers=tenant.headers
            )
            assert response.status_code == 404 and response.json()["error"]["code"] == "GROUP_NOT_FOUND"
        response = await suppress(api, tenant, ["a@example.com"], groupId=code)
        assert response.status_code == 404
    still = (await api.client.get(f"{BASE}/{theirs['groupId']}", headers=other_tenant.headers)).json()["data"]
    assert still["name"] == theirs["name"] and still["suppressionCount"] == 0


async def test_suppress_without_group_goes_to_the_default_group_and_is_global_to_global(api, tenant):
    group = await make_group(api, tenant)
    response = await suppress(api, tenant, ["A@Example.com", "a@example.com", "b@example.com"])
    assert response.status_code == 200 and response.json()["data"] == {"suppressed": 2}
    in_group = await suppress(api, tenant, ["c@example.com"], groupId=group["groupId"], reason="UNSUBSCRIBE")
    assert in_group.json()["data"] == {"suppressed": 1}
    forced = await suppress(api, tenant, ["d@example.com"], groupId=group["groupId"], isGlobal=True)
    assert forced.json()["data"] == {"suppressed": 1}
    glob = await suppress(api, tenant, ["e@example.com"], isGlobal=True)
    assert glob.json()["data"] == {"suppressed": 1}
    groups = (await api.client.get(BASE, headers=tenant.headers)).json()["data"]["groups"]
    assert [(g["name"], g["isGlobal"], g["suppressionCount"]) for g in groups] == [
        ("Global", True, 2),
        ("Default", False, 2),
        ("Newsletter", False, 1),
    ]
    async with api.db.read() as conn:
        assert not await service.is_suppressed(conn, tenant.project_id, "a@example.com")
        assert await service.is_suppressed(conn, tenant.project_id, "a@example.com", groups[1]["groupId"])
        assert await service.is_suppressed(conn, tenant.project_id, "e@example.com")


async def test_suppress_validates_and_changes_nothing_on_error(api, tenant):
    for body in [
        {"emails": []},
        {"emails": "a@example.com"},
        {"emails": ["a@example.com", "nope"]},
        {"emails": ["a@example.com"], "reason": "SPAM"},
        {"emails": [5]},
        {"emails": [f"u{i}@example.com" for i in range(1001)]},
    ]:
        response = await api.client.post(f"{BASE}/emails/suppress", json=body, headers=tenant.headers)
        assert response.status_code == 400 and response.json()["error"]["code"] == "VALIDATION_FAILED", body
    bad = await suppress(api, tenant, ["a@example.com", "nope"])
    [detail] = bad.json()["error"]["details"]
    assert detail["field"] == "emails[1]" and detail["message"].startswith("Invalid email format: "), detail
    entries = await api.client.post(f"{BASE}/entries", json={}, headers=tenant.headers)
    assert entries.json()["data"]["pagination"]["total"] == 0
    most = await suppress(api, tenant, [f"u{i}@example.com" for i in range(1000)])
    assert most.json()["data"] == {"suppressed": 1000}


async def test_unsuppress_from_group_global_or_everywhere(api, tenant):
    group = await make_group(api, tenant)
    await suppress(api, tenant, ["a@example.com", "b@example.com"], isGlobal=True)
    await suppress(api, tenant, ["a@example.com", "b@example.com"], groupId=group["groupId"])
    url = f"{BASE}/emails/unsuppress"
    one = await api.client.post(
        url, json={"emails": ["A@example.com"], "groupId": group["groupId"]}, headers=tenant.headers
    )
    assert one.json()["data"] == {"unsuppressed": 1}
    glob = await api.client.post(
        url, json={"emails": ["b@example.com"], "isGlobal": True}, headers=tenant.headers
    )
    assert glob.json()["data"] == {"unsuppressed": 1}
    rest = await api.client.post(
        url, json={"emails": ["a@example.com", "b@example.com"]}, headers=tenant.headers
    )
    assert rest.json()["data"] == {"unsuppressed": 2}
    again = await api.client.post(url, json={"emails": ["a@example.com"]}, headers=tenant.headers)
    assert again.json()["data"] == {"unsuppressed": 0}
    assert (await api.client.post(url, json={"emails": []}, headers=tenant.headers)).status_code == 400
    missing = await api.client.post(
        url, json={"emails": ["a@example.com"], "groupId": "NOPE42"}, headers=tenant.headers
    )
    assert missing.status_code == 404


async def test_email_entries_lists_groups_of_one_address(api, tenant):
    group = await make_group(api, tenant)
    await suppress(api, tenant, ["a@example.com"], isGlobal=True)
    await suppress(api, tenant, ["a@example.com"], groupId=group["groupId"])
    response = await api.client.post(
        f"{BASE}/email/entries", json={"email": "A@example.com"}, headers=tenant.headers
    )
    found = response.json()["data"]
    assert [g["isGlobal"] for g in found] == [True, False] and found[1]["id"] == group["groupId"]
    assert set(found[1]) == {"id", "name", "description", "isActive", "isGlobal"}
    none = await api.client.post(
        f"{BASE}/email/entries", json={"email": "z@example.com"}, headers=tenant.headers
    )
    assert none.json()["data"] == []
    assert (
        await api.client.post(f"{BASE}/email/entries", json={}, headers=tenant.headers)
    ).status_code == 400


async def _search(api, tenant, **body) -> dict:
    response = await api.client.post(f"{BASE}/entries", json=body, headers=tenant.headers)
    assert response.status_code == 200, response.text
    return response.json()["data"]


async def test_entries_search_filters(api, tenant, other_tenant):
    group = await make_group(api, tenant)
    await suppress(api, tenant, ["alice@example.com", "bob@test.org"], reason="BOUNCE", isGlobal=True)
    await suppress(api, tenant, ["carol@example.com"], groupId=group["groupId"], reason="UNSUBSCRIBE")
    await suppress(api, other_tenant, ["alice@example.com"])

    def emails(data):
        return sorted(e["email"] for e in data["entries"])

    assert emails(await _search(api, tenant)) == ["alice@example.com", "bob@test.org", "carol@example.com"]
    assert emails(await _search(api, tenant, groupId=group["groupId"])) == ["carol@example.com"]
    assert emails(await _search(api, tenant, reason="BOUNCE")) == ["alice@example.com", "bob@test.org"]
    assert emails(await _search(api, tenant, search="EXAMPLE")) == ["alice@example.com", "carol@example.com"]
    assert emails(await _search(api, tenant, search="%")) == []
    assert emails(await _search(api, tenant, email="Bob@test.org")) == ["bob@test.org"]
    assert emails(await _search(api, tenant, isGlobal=False)) == ["carol@example.com"]
    assert emails(await _search(api, tenant, isGlobal=True)) == ["alice@example.com", "bob@test.org"]
    entry = (await _search(api, tenant, groupId=group["groupId"]))["entries"][0]
    assert entry["groupId"] == group["groupId"] and entry["reason"] == "UNSUBSCRIBE"
    assert set(entry) == {"id", "email", "groupId", "reason", "createdAt", "updatedAt"}


async def test_entries_search_dates(api, tenant):
    await suppress(api, tenant, ["old@example.com", "new@example.com"])
    async with api.container.db.write() as conn:
        past = utcnow() - timedelta(days=10)
        await conn.execute(
            sa.update(suppressions).where(suppressions.c.email == "old@example.com").values(created_at=past)
        )
    cut = iso(utcnow() - timedelta(days=5))
    later = await _search(api, tenant, startDate=cut)
    assert [e["email"] for e in later["entries"]] == ["new@example.com"]
    earlier = await _search(api, tenant, endDate=cut)
    assert [e["email"] for e in earlier["entries"]] == ["old@example.com"]
    bad = await api.client.post(f"{BASE}/entries", json={"startDate": "yesterday"}, headers=tenant.headers)
    assert bad.status_code == 400 and bad.json()["error"]["details"][0]["field"] == "startDate"


async def test_entries_pagination_and_limits(api, tenant):
    await suppress(api, tenant, [f"u{i:02d}@example.com" for i in range(25)])
    first = await _search(api, tenant, limit=10)
    assert first["pagination"] == {"page": 1, "limit": 10, "total": 25, "pages": 3, "totalPages": 3}
    third = await _search(api, tenant, limit=10, page=3)
    assert len(third["entries"]) == 5
    seen = {e["email"] for p in (1, 2, 3) for e in (await _search(api, tenant, limit=10, page=p))["entries"]}
    assert len(seen) == 25
    assert len((await _search(api, tenant, limit=100))["entries"]) == 25
    for body in [{"limit": 101}, {"limit": 0}, {"page": 0}, {"limit": "10"}, {"reason": "unsubscribed"}]:
        response = await api.client.post(f"{BASE}/entries", json=body, headers=tenant.headers)
        assert response.status_code == 400, body


async def test_service_suppress_is_idempotent_and_scoped(api, tenant, other_tenant):
    group = await make_group(api, tenant)
    db = api.container.db
    async with db.write() as conn:
        await service.suppress(conn, tenant.project_id, "X@example.com", reason="BOUNCE")
        await service.suppress(
            conn, tenant.project_id, "x@example.com", reason="COMPLAINT", source_message_id="m" * 24
        )
        await service.suppress(
            conn, tenant.project_id, "y@example.com", reason="UNSUBSCRIBE", group_code=group["groupId"]
        )
    async with db.read() as conn:
        assert await service.is_suppressed(conn, tenant.project_id, "x@EXAMPLE.com")
        assert await service.is_suppressed(conn, tenant.project_id, "x@example.com", group["groupId"])
        assert not await service.is_suppressed(conn, tenant.project_id, "y@example.com")
        assert await service.is_suppressed(conn, tenant.project_id, "y@example.com", group["groupId"])
        assert not await service.is_suppressed(conn, other_tenant.project_id, "x@example.com")
    entries = (await _search(api, tenant, email="x@example.com"))["entries"]
    assert len(entries) == 1 and entries[0]["reason"] == "COMPLAINT"
