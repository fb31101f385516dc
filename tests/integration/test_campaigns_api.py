"""/v1/campaigns over HTTP on both databases: create, list, get, update, delete, duplicate,
validation of every field and limit, references to the project's data, auth and idempotency."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from sendhouse.domain import ids
from sendhouse.domain.times import utcnow
from sendhouse.store.schema.audience import contact_lists, suppression_groups
from sendhouse.store.schema.campaigns import campaigns
from sendhouse.store.schema.content import senders, templates

SEGMENT_CRITERIA = {
    "logicalOperator": "AND",
    "groups": [{"field": "email", "fieldType": "string", "operator": "contains", "value": "@example.com"}],
}
BASE = {"name": "Spring launch", "subject": "Hello", "htmlTemplate": "<p>Hi {{first_name}}</p>"}


async def seed_content(api, project_id: str) -> dict:
    """A sender, a template, a list, a segment and a suppression group of the project."""
    now = utcnow()
    made = {
        "sender": ids.new_id(),
        "template": ids.new_template_id(),
        "list": ids.new_id(),
        "segment": ids.new_id(),
        "group": "GRP23",
    }
    async with api.db.write() as conn:
        await conn.execute(
            senders.insert().values(
                id=made["sender"],
                project_id=project_id,
                email="news@example.com",
                name="News",
                reply_to="reply@example.com",
                created_at=now,
                updated_at=now,
            )
        )
        await conn.execute(
            templates.insert().values(
                id=made["template"],
                project_id=project_id,
                name="Welcome",
                subject="Welcome!",
                html="<p>T</p>",
                template_type="marketing",
                builder_type="code",
                created_at=now,
                updated_at=now,
            )
        )
        for key, kind, criteria in (("list", "list", None), ("segment", "segment", SEGMENT_CRITERIA)):
            await conn.execute(
                contact_lists.insert().values(
                    id=made[key],
                    project_id=project_id,
                    name=f"My {kind}",
                    type=kind,
                    filter_criteria=criteria,
                    created_at=now,
                    updated_at=now,
                )
            )
        await conn.execute(
            suppression_groups.insert().values(
                id=ids.new_id(),
                project_id=project_id,
                group_code=made["group"],
                name="Newsletter",
                created_at=now,
                updated_at=now,
            )
        )
    return made


async def create(api, tenant, body: dict, **kwargs):
    return await api.client.post("/v1/campaigns", json=body, headers=tenant.headers, **kwargs)


async def created_id(api, tenant, body: dict | None = None) -> str:
    response = await create(api, tenant, body or BASE)
    assert response.status_code == 200, response.text
    return response.json()["data"]["id"]


def error_of(response, status: int) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is False
    return body["error"]


async def count_campaigns(api) -> int:
    async with api.db.read() as conn:
        return (await conn.execute(sa.select(sa.func.count()).select_from(campaigns))).scalar_one()


# --- create and get --------------------------------------------------------------------------


async def test_create_draft_with_every_field_and_get_it(api, tenant):
    made = await seed_content(api, tenant.project_id)
    body = {
        **BASE,
        "previewText": "Preview",
        "fromSenderId": made["sender"],
        "templateId": made["template"],
        "toLists": [made["list"], made["segment"]],
        "excludeLists": ["GLOBAL_CONTACT_LIST"],
        "unsubscribeGroupId": made["group"],
        "trackingOpen": False,
        "trackingClick": True,
        "sendMode": "gradual",
        "gradualStrategy": "1.5x",
        "dailyBatchSize": 50,
        "timezone": "Europe/Paris",
        "defaultCampaign": True,
        "builderType": "code",
        "unknownField": "ignored",
    }
    response = await create(api, tenant, body)
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["status"] == "draft" and data["id"] == data["campaignId"] and len(data["id"]) == 24
    assert (
        data["from"] == {"email": "news@example.com", "name": "News"}
        and data["replyTo"] == "reply@example.com"
    )
    assert data["toLists"] == [
        {"id": made["list"], "name": "My list", "type": "list", "contactCount": 0},
        {"id": made["segment"], "name": "My segment", "type": "segment", "contactCount": 0},
    ]
    assert data["excludeLists"][0]["id"] == "GLOBAL_CONTACT_LIST"
    assert data["gradualSend"] == {
        "gradualStrategy": "1.5x",
        "dailyBatchSize": 50,
        "timezone": "Europe/Paris",
        "startAt": None,
    }
    assert (
        data["template"]["templateId"] == made["template"]
        and data["template"]["emailTemplate"] == BASE["htmlTemplate"]
    )
    assert data["source"] == "api" and data["trackingOpen"] is False and data["unsubscribeGroupId"] == "GRP23"
    assert data["metrics"]["sent"] == 0 and data["metrics"]["totalContacts"] == 0
    got = await api.client.get(f"/v1/campaigns/{data['id']}", headers=tenant.headers)
    assert got.status_code == 200 and got.json()["data"] == data


async def test_send_now_schedules_after_the_delay(api, tenant):
    made = await seed_content(api, tenant.project_id)
    body = {
        **BASE,
        "from": {"email": "a@example.com"},
        "toLists": [made["list"]],
        "sendNow": True,
        "publish": True,
    }
    before = utcnow()
    data = (await create(api, tenant, body)).json()["data"]
    assert data["status"] == "scheduled" and data["sendNow"] is True
    async with api.db.read() as conn:
        start = (await conn.execute(sa.select(campaigns.c.scheduled_at))).scalar_one()
    delay = api.container.settings.send_now_delay
    assert delay - 1 <= (start - before).total_seconds() <= delay + 5


async def test_scheduled_at_too_soon_gets_the_buffer_and_later_is_kept(api, tenant):
    body = {**BASE, "from": {"email": "a@example.com"}, "sendToGlobalList": True}
    soon = (await create(api, tenant, {**body, "scheduledAt": utcnow().isoformat()})).json()["data"]
    later = (await create(api, tenant, {**body, "scheduledAt": "2099-01-01T10:00:00+01:00"})).json()["data"]
    assert soon["status"] == later["status"] == "scheduled" and soon["sendMode"] == "scheduled"
    assert soon["scheduledAt"] > utcnow().isoformat()[:19]
    assert later["scheduledAt"] == "2099-01-01T09:00:00.000Z"


async def test_scheduling_without_sender_recipients_or_content_is_refused(api, tenant):
    error = error_of(await create(api, tenant, {**BASE, "publish": True}), 400)
    assert error["code"] == "VALIDATION_FAILED"
    assert [d["field"] for d in error["details"]] == ["from", "toLists"]
    assert await count_campaigns(api) == 0


async def test_create_requires_content_name_and_subject(api, tenant):
    error = error_of(await create(api, tenant, {"name": "n", "subject": "s"}), 400)
    assert error["details"] == [
        {"field": "templateId", "message": "one of templateId or htmlTemplate is required"}
    ]
    error = error_of(await create(api, tenant, {"subject": "s", "htmlTemplate": "x"}), 400)
    assert error["details"][0]["field"] == "name"


async def test_references_must_belong_to_the_project(api, tenant, other_tenant):
    theirs = await seed_content(api, other_tenant.project_id)
    body = {
        **BASE,
        "templateId": theirs["template"],
        "fromSenderId": theirs["sender"],
        "toLists": [theirs["list"]],
        "excludeLists": ["nope"],
        "unsubscribeGroupId": theirs["group"],
    }
    error = error_of(await create(api, tenant, body), 400)
    assert sorted(d["field"] for d in error["details"]) == [
        "excludeLists",
        "fromSenderId",
        "templateId",
        "toLists",
        "unsubscribeGroupId",
    ]
    assert await count_campaigns(api) == 0


@pytest.mark.parametrize(
    "field,value",
    [
        ("name", 5),
        ("subject", ["s"]),
        ("previewText", 1),
        ("from", "a@example.com"),
        ("replyTo", 7),
        ("templateId", 3),
        ("toLists", "abc"),
        ("toLists", [1]),
        ("excludeLists", {"a": 1}),
        ("sendNow", "true"),
        ("sendToGlobalList", 1),
        ("publish", "yes"),
        ("trackingOpen", 0),
        ("trackingClick", "false"),
        ("dailyBatchSize", "10"),
        ("dailyBatchSize", 2.5),
        ("dailyBatchSize", True),
        ("scheduledAt", 1700000000),
        ("timezone", 5),
        ("sendMode", 1),
        ("gradualStrategy", 2),
        ("unsubscribeGroupId", 5),
        ("fromSenderId", 9),
        ("htmlTemplate", 1),
    ],
)
async def test_wrong_types_are_400_and_change_nothing(api, tenant, field, value):
    error = error_of(await create(api, tenant, {**BASE, field: value}), 400)
    assert error["code"] == "VALIDATION_FAILED"
    assert re.split(r"[.\[]", error["details"][0]["field"])[0] == field
    assert await count_campaigns(api) == 0


@pytest.mark.parametrize(
    "field,ok_value,bad_value",
    [
        ("name", "n" * 200, "n" * 201),
        ("subject", "s" * 998, "s" * 999),
        ("previewText", "p" * 200, "p" * 201),
        ("name", "n", ""),
        ("subject", "s", ""),
    ],
)
async def test_length_limits_at_and_beyond(api, tenant, field, ok_value, bad_value):
    assert (await create(api, tenant, {**BASE, field: ok_value})).status_code == 200
    error = error_of(await create(api, tenant, {**BASE, field: bad_value}), 400)
    assert error["details"][0]["field"] == field
    assert await count_campaigns(api) == 1


@pytest.mark.parametrize(
    "extra,field",
    [
        ({"from": {"email": "nope"}}, "from.email"),
        ({"from": {"email": "a@example.com", "name": "n" * 201}}, "from.name"),
        ({"replyTo": "bad address"}, "replyTo"),
        ({"sendMode": "now"}, "sendMode"),
        ({"sendMode": "gradual"}, "gradualStrategy"),
        ({"sendMode": "gradual", "gradualStrategy": "3x"}, "gradualStrategy"),
        ({"sendMode": "gradual", "gradualStrategy": "2x", "dailyBatchSize": 0}, "dailyBatchSize"),
        ({"dailyBatchSize": 5}, "dailyBatchSize"),
        ({"timezone": "Europe/Atlantis"}, "timezone"),
        ({"scheduledAt": "next tuesday"}, "scheduledAt"),
    ],
)
async def test_field_rules(api, tenant, extra, field):
    error = error_of(await create(api, tenant, {**BASE, **extra}), 400)
    assert field in [d["field"] for d in error["details"]]
    assert await count_campaigns(api) == 0


async def test_daily_batch_size_one_is_accepted(api, tenant):
    body = {**BASE, "sendMode": "gradual", "gradualStrategy": "fixed", "dailyBatchSize": 1}
    assert (await create(api, tenant, body)).json()["data"]["gradualSend"]["dailyBatchSize"] == 1


async def test_html_template_wins_over_template(api, tenant):
    made = await seed_content(api, tenant.project_id)
    data = (await create(api, tenant, {**BASE, "templateId": made["template"]})).json()["data"]
    assert data["htmlTemplate"] == BASE["htmlTemplate"] == data["template"]["emailTemplate"]


# --- list ------------------------------------------------------------------------------------


async def test_list_filters_and_paginates(api, tenant, other_tenant):
    for name in ("Alpha news", "Beta news", "Gamma"):
        await created_id(api, tenant, {**BASE, "name": name})
    await created_id(api, other_tenant, {**BASE, "name": "Alpha elsewhere"})
    listed = await api.client.get("/v1/campaigns", headers=tenant.headers)
    data = listed.json()["data"]
    assert [c["name"] for c in data["campaigns"]] == ["Gamma", "Beta news", "Alpha news"]
    assert data["pagination"] == {"page": 1, "limit": 20, "total": 3, "pages": 1, "totalPages": 1}
    assert "metrics" not in data["campaigns"][0]
    by_name = await api.client.get(
        "/v1/campaigns", params={"name": "NEWS", "limit": 1, "page": 2}, headers=tenant.headers
    )
    assert [c["name"] for c in by_name.json()["data"]["campaigns"]] == ["Alpha news"]
    assert by_name.json()["data"]["pagination"]["pages"] == 2


async def test_list_status_dates_and_counts(api, tenant):
    await created_id(api, tenant)
    drafts = await api.client.get(
        "/v1/campaigns", params={"status": "draft", "includeCounts": "true"}, headers=tenant.headers
    )
    assert drafts.json()["data"]["campaigns"][0]["metrics"]["sent"] == 0
    sent = await api.client.get("/v1/campaigns", params={"status": "sent"}, headers=tenant.headers)
    assert sent.json()["data"]["campaigns"] == []
    future = await api.client.get("/v1/campaigns", params={"startDate": "2099-01-01"}, headers=tenant.headers)
    past = await api.client.get(
        "/v1/campaigns", params={"endDate": "2000-01-01T00:00:00Z"}, headers=tenant.headers
    )
    window = await api.client.get(
        "/v1/campaigns", params={"startDate": "2000-01-01", "endDate": "2099-01-01"}, headers=tenant.headers
    )
    assert [len(r.json()["data"]["campaigns"]) for r in (future, past, window)] == [0, 0, 1]


@pytest.mark.parametrize(
    "params,field",
    [
        ({"limit": 101}, "limit"),
        ({"limit": 0}, "limit"),
        ({"page": 0}, "page"),
        ({"page": "x"}, "page"),
        ({"status": "done"}, "status"),
        ({"startDate": "yesterday"}, "startDate"),
        ({"includeCounts": "maybe"}, "includeCounts"),
    ],
)
async def test_list_rejects_bad_query(api, tenant, params, field):
    error = error_of(await api.client.get("/v1/campaigns", params=params, headers=tenant.headers), 400)
    assert error["code"] == "VALIDATION_FAILED" and error["details"][0]["field"] == field


async def test_list_limit_100_is_accepted(api, tenant):
    response = await api.client.get("/v1/campaigns", params={"limit": 100, "page": 1}, headers=tenant.headers)
    assert response.json()["data"]["pagination"]["limit"] == 100


# --- update, delete, duplicate -------------------------------------------------------------


async def test_patch_draft_then_publish(api, tenant):
    made = await seed_content(api, tenant.project_id)
    cid = await created_id(api, tenant)
    patched = await api.client.patch(
        f"/v1/campaigns/{cid}", json={"name": "Renamed", "previewText": None}, headers=tenant.headers
    )
    assert patched.status_code == 200 and patched.json()["data"]["name"] == "Renamed"
    body = {"fromSenderId": made["sender"], "toLists": [made["list"]], "publish": True}
    published = (await api.client.patch(f"/v1/campaigns/{cid}", json=body, headers=tenant.headers)).json()[
        "data"
    ]
    assert published["status"] == "scheduled" and published["scheduledAt"] is not None
    emptied = await api.client.patch(f"/v1/campaigns/{cid}", json={"toLists": []}, headers=tenant.headers)
    assert error_of(emptied, 400)["details"][0]["field"] == "toLists"
    got = (await api.client.get(f"/v1/campaigns/{cid}", headers=tenant.headers)).json()["data"]
    assert got["toLists"][0]["id"] == made["list"] and got["name"] == "Renamed"


@pytest.mark.parametrize(
    "body,field",
    [
        ({"name": "x" * 201}, "name"),
        ({"name": None}, "name"),
        ({"subject": 5}, "subject"),
        ({"dailyBatchSize": "1"}, "dailyBatchSize"),
        ({"toLists": ["unknown"]}, "toLists"),
    ],
)
async def test_patch_validates_and_changes_nothing(api, tenant, body, field):
    cid = await created_id(api, tenant)
    error = error_of(await api.client.patch(f"/v1/campaigns/{cid}", json=body, headers=tenant.headers), 400)
    assert error["details"][0]["field"] == field
    got = (await api.client.get(f"/v1/campaigns/{cid}", headers=tenant.headers)).json()["data"]
    assert got["name"] == BASE["name"] and got["toLists"] == []


async def test_delete_only_drafts(api, tenant):
    cid = await created_id(api, tenant)
    deleted = await api.client.delete(f"/v1/campaigns/{cid}", headers=tenant.headers)
    assert deleted.json() == {"success": True, "message": "Campaign deleted successfully"}
    assert error_of(await api.client.delete(f"/v1/campaigns/{cid}", headers=tenant.headers), 404)["code"] == (
        "CAMPAIGN_NOT_FOUND"
    )
    scheduled = await created_id(
        api, tenant, {**BASE, "from": {"email": "a@example.com"}, "sendToGlobalList": True, "sendNow": True}
    )
    error = error_of(await api.client.delete(f"/v1/campaigns/{scheduled}", headers=tenant.headers), 400)
    assert error["code"] == "ONLY_DRAFT_CAMPAIGNS_CAN_BE_DELETED"
    assert await count_campaigns(api) == 1


async def test_duplicate_makes_a_draft_copy(api, tenant):
    made = await seed_content(api, tenant.project_id)
    body = {**BASE, "from": {"email": "a@example.com"}, "toLists": [made["list"]], "sendNow": True}
    cid = await created_id(api, tenant, body)
    copy = await api.client.post(f"/v1/campaigns/{cid}/duplicate", headers=tenant.headers)
    data = copy.json()["data"]
    assert data["name"] == "Copy of Spring launch" and data["status"] == "draft" and data["id"] != cid
    assert (
        data["toLists"][0]["id"] == made["list"] and data["scheduledAt"] is None and data["sendNow"] is False
    )


# --- auth, other project, not found --------------------------------------------------------

ID_ROUTES = [
    ("get", ""),
    ("patch", ""),
    ("delete", ""),
    ("post", "/duplicate"),
    ("post", "/pause"),
    ("post", "/resume"),
    ("post", "/abort"),
    ("get", "/analytics"),
]


async def _call(api, method: str, path: str, headers: dict):
    kwargs = {"json": {"name": "x"}} if method == "patch" else {}
    return await getattr(api.client, method)(path, headers=headers, **kwargs)


@pytest.mark.parametrize("method,suffix", ID_ROUTES)
async def test_other_projects_key_and_unknown_id_get_404(api, tenant, other_tenant, method, suffix):
    cid = await created_id(api, tenant)
    for headers, target in ((other_tenant.headers, cid), (tenant.headers, ids.new_id())):
        error = error_of(await _call(api, method, f"/v1/campaigns/{target}{suffix}", headers), 404)
        assert error["code"] == "CAMPAIGN_NOT_FOUND"
    got = (await api.client.get(f"/v1/campaigns/{cid}", headers=tenant.headers)).json()["data"]
    assert got["name"] == BASE["name"] and got["status"] == "draft"


@pytest.mark.parametrize("method,suffix", [*ID_ROUTES, ("get", "LIST"), ("post", "LIST")])
async def test_missing_and_wrong_key_are_401(api, tenant, method, suffix):
    cid = await created_id(api, tenant)
    path = "/v1/campaigns" if suffix == "LIST" else f"/v1/campaigns/{cid}{suffix}"
    for headers in ({}, {"Authorization": "Bearer AS_wrong"}):
        assert error_of(await _call(api, method, path, headers), 401)["code"] == "UNAUTHORIZED"


async def test_account_key_needs_project_header(api, tenant):
    key = await api.account_key(tenant.project_id)
    without = await api.client.get("/v1/campaigns", headers={"Authorization": f"Bearer {key}"})
    assert error_of(without, 400)["details"][0]["field"] == "x-project-id"
    headers = {"Authorization": f"Bearer {key}", "x-project-id": tenant.project_id}
    assert (await create(api, tenant, BASE)).status_code == 200
    assert len((await api.client.get("/v1/campaigns", headers=headers)).json()["data"]["campaigns"]) == 1


# --- idempotency -----------------------------------------------------------------------------


async def test_idempotency_key_replays_and_refuses_reuse(api, tenant):
    headers = {**tenant.headers, "Idempotency-Key": "create-1"}
    first = await api.client.post("/v1/campaigns", json=BASE, headers=headers)
    again = await api.client.post("/v1/campaigns", json=BASE, headers=headers)
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json() and again.headers.get("idempotent-replayed") == "true"
    assert await count_campaigns(api) == 1
    other = await api.client.post("/v1/campaigns", json={**BASE, "name": "Other"}, headers=headers)
    assert error_of(other, 409)["code"] == "IDEMPOTENCY_KEY_REUSED"
    fresh = await api.client.post(
        "/v1/campaigns", json=BASE, headers={**tenant.headers, "Idempotency-Key": "2"}
    )
    assert fresh.json()["data"]["id"] != first.json()["data"]["id"]
    assert await count_campaigns(api) == 2


async def test_failed_create_releases_the_idempotency_key(api, tenant):
    headers = {**tenant.headers, "Idempotency-Key": "retry-me"}
    failed = await api.client.post("/v1/campaigns", json={**BASE, "toLists": ["missing"]}, headers=headers)
    assert failed.status_code == 400
    retried = await api.client.post("/v1/campaigns", json={**BASE, "toLists": ["missing"]}, headers=headers)
    assert retried.status_code == 400 and retried.json()["error"]["code"] == "VALIDATION_FAILED"
    assert (await api.client.post("/v1/campaigns", json=BASE, headers=headers)).status_code == 200
