"""The templates API over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from sendhouse.store.schema.content import templates

BASE = {"templateName": "Welcome", "subject": "Hello {{first_name}}"}


async def create(api, tenant, **fields):
    response = await api.client.post("/v1/templates", json={**BASE, **fields}, headers=tenant.headers)
    assert response.status_code == 200, response.text
    return response.json()["data"]


def field_error(response, field):
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_FAILED"
    assert field in [d["field"] for d in error["details"]], error
    return error


async def test_create_returns_template_object_and_get_reads_it(api, tenant):
    data = await create(
        api,
        tenant,
        description="d",
        previewText="p",
        emailTemplate="<p>Hi {{name}}</p>",
        plainTextTemplate="Hi",
        templateType="marketing",
        builderType="visual",
        dynamicVariables={"name": "string"},
    )
    assert data["templateId"].startswith("A-") and len(data["templateId"]) == 22
    expected = {
        "projectId": tenant.project_id,
        "templateName": "Welcome",
        "description": "d",
        "subject": "Hello {{first_name}}",
        "previewText": "p",
        "emailTemplate": "<p>Hi {{name}}</p>",
        "plainTextTemplate": "Hi",
        "templateType": "marketing",
        "builderType": "visual",
        "dynamicVariables": {"name": "string"},
        "sender": None,
    }
    assert {k: data[k] for k in expected} == expected
    assert data["createdAt"].endswith("Z") and data["updatedAt"] == data["createdAt"]
    got = await api.client.get(f"/v1/templates/{data['templateId']}", headers=tenant.headers)
    assert got.status_code == 200 and got.json()["data"] == data


async def test_defaults_are_transactional_and_code(api, tenant):
    data = await create(api, tenant)
    assert (data["templateType"], data["builderType"], data["description"]) == ("transactional", "code", None)


async def test_template_with_sender_shows_the_sender(api, tenant):
    sender = await api.client.post(
        "/v1/senders", json={"email": "news@example.com", "name": "News"}, headers=tenant.headers
    )
    sender_id = sender.json()["data"]["sender"]["id"]
    data = await create(api, tenant, senderId=sender_id)
    assert data["sender"] == {"id": sender_id, "name": "News", "email": "news@example.com", "replyTo": ""}
    listed = (await api.client.get("/v1/templates", headers=tenant.headers)).json()["data"]["templates"]
    assert listed[0]["sender"]["id"] == sender_id


async def test_unknown_or_foreign_sender_is_refused(api, tenant, other_tenant):
    foreign = await api.client.post(
        "/v1/senders", json={"email": "a@other.com"}, headers=other_tenant.headers
    )
    for sender_id in ["0" * 24, foreign.json()["data"]["sender"]["id"]]:
        response = await api.client.post(
            "/v1/templates", json={**BASE, "senderId": sender_id}, headers=tenant.headers
        )
        field_error(response, "senderId")
    assert (await api.client.get("/v1/templates", headers=tenant.headers)).json()["data"]["templates"] == []


@pytest.mark.parametrize(
    "field,limit", [("templateName", 90), ("subject", 988), ("description", 140), ("previewText", 140)]
)
async def test_length_limits_at_and_over(api, tenant, field, limit):
    at = await create(api, tenant, **{field: "x" * limit})
    assert at[field] == "x" * limit
    over = await api.client.post(
        "/v1/templates", json={**BASE, field: "x" * (limit + 1)}, headers=tenant.headers
    )
    field_error(over, field)
    updated = await api.client.put(
        f"/v1/templates/{at['templateId']}", json={field: "y" * (limit + 1)}, headers=tenant.headers
    )
    field_error(updated, field)
    unchanged = await api.client.get(f"/v1/templates/{at['templateId']}", headers=tenant.headers)
    assert unchanged.json()["data"][field] == "x" * limit


@pytest.mark.parametrize(
    "body,field",
    [
        ({"subject": "s"}, "templateName"),
        ({"templateName": "n"}, "subject"),
        ({**BASE, "templateName": 5}, "templateName"),
        ({**BASE, "templateType": "weekly"}, "templateType"),
        ({**BASE, "builderType": "editor"}, "builderType"),
        ({**BASE, "dynamicVariables": ["x"]}, "dynamicVariables"),
        ({**BASE, "emailTemplate": 1}, "emailTemplate"),
        ({**BASE, "templateName": ""}, "templateName"),
    ],
)
async def test_create_rejects_missing_and_wrong_types(api, tenant, body, field):
    response = await api.client.post("/v1/templates", json=body, headers=tenant.headers)
    field_error(response, field)
    assert (await api.client.get("/v1/templates", headers=tenant.headers)).json()["data"]["templates"] == []


@pytest.mark.parametrize("field", ["subject", "emailTemplate", "plainTextTemplate"])
async def test_malformed_template_syntax_is_reported_with_position(api, tenant, field):
    broken = "line one\n{{#if vip}}welcome"
    response = await api.client.post("/v1/templates", json={**BASE, field: broken}, headers=tenant.headers)
    error = field_error(response, field)
    message = " ".join(d["message"] for d in error["details"]).lower()
    assert "line 2" in message and "column" in message, message
    saved = await create(api, tenant)
    again = await api.client.put(
        f"/v1/templates/{saved['templateId']}", json={field: broken}, headers=tenant.headers
    )
    field_error(again, field)


async def test_put_changes_given_fields_only(api, tenant):
    data = await create(api, tenant, description="keep", previewText="old")
    response = await api.client.put(
        f"/v1/templates/{data['templateId']}",
        json={"subject": "New", "previewText": None, "builderType": "visual"},
        headers=tenant.headers,
    )
    assert response.status_code == 200, response.text
    updated = response.json()["data"]
    assert (updated["subject"], updated["previewText"], updated["description"]) == ("New", None, "keep")
    assert updated["builderType"] == "code" and updated["templateName"] == "Welcome"
    refused = await api.client.put(
        f"/v1/templates/{data['templateId']}", json={"templateName": None}, headers=tenant.headers
    )
    field_error(refused, "templateName")
    for body, field in [
        ({"subject": 5}, "subject"),
        ({"templateType": "weekly"}, "templateType"),
        ({"dynamicVariables": "x"}, "dynamicVariables"),
        ({"senderId": 1}, "senderId"),
    ]:
        field_error(
            await api.client.put(f"/v1/templates/{data['templateId']}", json=body, headers=tenant.headers),
            field,
        )
    assert (await api.client.get(f"/v1/templates/{data['templateId']}", headers=tenant.headers)).json()[
        "data"
    ] == updated


async def test_patch_preview_text(api, tenant):
    data = await create(api, tenant)
    url = f"/v1/templates/{data['templateId']}/preview-text"
    response = await api.client.patch(url, json={"previewText": "p" * 140}, headers=tenant.headers)
    assert response.status_code == 200 and response.json()["data"]["previewText"] == "p" * 140
    field_error(
        await api.client.patch(url, json={"previewText": "p" * 141}, headers=tenant.headers), "previewText"
    )
    field_error(await api.client.patch(url, json={}, headers=tenant.headers), "previewText")
    field_error(await api.client.patch(url, json={"previewText": 7}, headers=tenant.headers), "previewText")
    missing = await api.client.patch(
        "/v1/templates/A-00000000000000000000/preview-text", json={"previewText": "x"}, headers=tenant.headers
    )
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "TEMPLATE_NOT_FOUND"


async def test_delete_is_soft_and_unknown_is_delete_template_failed(api, tenant):
    data = await create(api, tenant)
    url = f"/v1/templates/{data['templateId']}"
    deleted = await api.client.delete(url, headers=tenant.headers)
    assert deleted.json() == {"success": True, "message": "Template successfully deleted."}
    assert (await api.client.get(url, headers=tenant.headers)).status_code == 404
    again = await api.client.delete(url, headers=tenant.headers)
    assert again.status_code == 400 and again.json()["error"]["code"] == "DELETE_TEMPLATE_FAILED"
    async with api.db.read() as conn:
        kept = await conn.execute(
            sa.select(templates.c.deleted_at).where(templates.c.id == data["templateId"])
        )
        assert kept.scalar_one() is not None


async def test_list_filters_by_type_and_limits(api, tenant):
    for i in range(3):
        await create(api, tenant, templateName=f"t{i}", templateType="marketing" if i else "transactional")
    listed = (await api.client.get("/v1/templates", headers=tenant.headers)).json()["data"]["templates"]
    assert [t["templateName"] for t in listed] == ["t2", "t1", "t0"]
    marketing = await api.client.get("/v1/templates?templateType=marketing&limit=1", headers=tenant.headers)
    assert [t["templateName"] for t in marketing.json()["data"]["templates"]] == ["t2"]
    assert (await api.client.get("/v1/templates?limit=100", headers=tenant.headers)).status_code == 200
    for bad in ["limit=101", "limit=0", "limit=x", "templateType=weekly"]:
        response = await api.client.get(f"/v1/templates?{bad}", headers=tenant.headers)
        assert response.status_code == 400 and response.json()["error"]["code"] == "VALIDATION_FAILED"


async def test_search_matches_name_subject_and_id_with_pagination(api, tenant):
    a = await create(api, tenant, templateName="Spring sale", subject="50% off")
    b = await create(
        api, tenant, templateName="Receipt", subject="Your spring order", templateType="marketing"
    )
    await create(api, tenant, templateName="Other", subject="nothing")

    async def names(qs):
        response = await api.client.get(f"/v1/templates/search?{qs}", headers=tenant.headers)
        assert response.status_code == 200, response.text
        return [t["templateName"] for t in response.json()["data"]["templates"]], response.json()["data"][
            "pagination"
        ]

    assert (await names("query=SPRING"))[0] == ["Receipt", "Spring sale"]
    assert (await names(f"query={b['templateId'][2:]}"))[0] == ["Receipt"]
    assert (await names("query=50%25"))[0] == ["Spring sale"]
    assert (await names("query=spring&templateType=marketing"))[0] == ["Receipt"]
    assert (await names("templateName=sale"))[0] == ["Spring sale"]
    assert (await names("subject=order"))[0] == ["Receipt"]
    assert (await names(f"templateId={a['templateId']}"))[0] == ["Spring sale"]
    page2, pagination = await names("page=2&limit=2&sortBy=createdAt&sortOrder=asc")
    assert page2 == ["Other"] and pagination == {
        "page": 2,
        "limit": 2,
        "total": 3,
        "pages": 2,
        "totalPages": 2,
    }
    assert (await names("limit=100"))[1]["limit"] == 100
    for bad in ["limit=101", "page=0", "sortBy=name"]:
        response = await api.client.get(f"/v1/templates/search?{bad}", headers=tenant.headers)
        assert response.status_code == 400


async def test_get_unknown_is_template_not_found(api, tenant):
    response = await api.client.get("/v1/templates/A-00000000000000000000", headers=tenant.headers)
    assert response.status_code == 404 and response.json()["error"]["code"] == "TEMPLATE_NOT_FOUND"
    put = await api.client.put(
        "/v1/templates/A-00000000000000000000", json={"subject": "x"}, headers=tenant.headers
    )
    assert put.status_code == 404 and put.json()["error"]["code"] == "TEMPLATE_NOT_FOUND"


async def test_another_projects_template_is_invisible(api, tenant, other_tenant):
    data = await create(api, tenant)
    url = f"/v1/templates/{data['templateId']}"
    h = other_tenant.headers
    assert (await api.client.get(url, headers=h)).status_code == 404
    assert (await api.client.put(url, json={"subject": "hijack"}, headers=h)).status_code == 404
    assert (
        await api.client.patch(url + "/preview-text", json={"previewText": "x"}, headers=h)
    ).status_code == 404
    assert (await api.client.delete(url, headers=h)).json()["error"]["code"] == "DELETE_TEMPLATE_FAILED"
    assert (await api.client.get("/v1/templates", headers=h)).json()["data"]["templates"] == []
    assert (await api.client.get("/v1/templates/search", headers=h)).json()["data"]["templates"] == []
    assert (await api.client.get(url, headers=tenant.headers)).json()["data"]["subject"] == BASE["subject"]


@pytest.mark.parametrize(
    "method,path",
    [
        ("GET", "/v1/templates"),
        ("GET", "/v1/templates/search"),
        ("GET", "/v1/templates/A-1"),
        ("POST", "/v1/templates"),
        ("PUT", "/v1/templates/A-1"),
        ("PATCH", "/v1/templates/A-1/preview-text"),
        ("DELETE", "/v1/templates/A-1"),
    ],
)
@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer AS_wrong"}])
async def test_missing_or_wrong_key_is_401(api, method, path, headers):
    response = await api.client.request(method, path, json=BASE, headers=headers)
    assert response.status_code == 401 and response.json()["error"]["code"] == "UNAUTHORIZED"
