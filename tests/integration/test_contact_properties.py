"""/v1/contact-properties and the deprecated /v1/custom-fields aliases, on both databases."""

from __future__ import annotations

import pytest

BUILTINS = ["email", "firstName", "lastName", "createdAt", "userId"]


async def create(api, tenant, body, path="/v1/contact-properties"):
    return await api.client.post(path, json=body, headers=tenant.headers)


async def test_create_list_get_delete(api, tenant):
    response = await create(
        api, tenant, {"name": "plan", "type": "string", "description": "Billing plan", "defaultValue": "free"}
    )
    assert response.status_code == 200, response.text
    prop = response.json()["data"]
    assert {
        k: prop[k] for k in ("name", "type", "fieldName", "fieldType", "description", "defaultValue")
    } == {
        "name": "plan",
        "type": "string",
        "fieldName": "plan",
        "fieldType": "string",
        "description": "Billing plan",
        "defaultValue": "free",
    }
    assert len(prop["id"]) == 24 and prop["createdAt"].endswith("Z")
    listed = (await api.client.get("/v1/contact-properties", headers=tenant.headers)).json()
    assert [p["name"] for p in listed["data"]["contactProperties"]] == [*BUILTINS, "plan"]
    assert listed["message"]
    got = await api.client.get("/v1/contact-properties/name/plan", headers=tenant.headers)
    assert got.json()["data"] == prop
    deleted = await api.client.delete("/v1/contact-properties/name/plan", headers=tenant.headers)
    assert deleted.json() == {"success": True, "message": "Contact property deleted successfully"}
    for method in ("GET", "DELETE"):
        gone = await api.client.request(method, "/v1/contact-properties/name/plan", headers=tenant.headers)
        assert gone.status_code == 404 and gone.json()["error"]["code"] == "CONTACT_PROPERTY_NOT_FOUND"


@pytest.mark.parametrize("flag,names", [("true", [*BUILTINS, "age"]), ("false", ["age"]), ("FALSE", ["age"])])
async def test_include_reserved_fields(api, tenant, flag, names):
    await create(api, tenant, {"name": "age", "type": "number"})
    response = await api.client.get(
        f"/v1/contact-properties?includeReservedFields={flag}", headers=tenant.headers
    )
    props = response.json()["data"]["contactProperties"]
    assert [p["name"] for p in props] == names
    assert all(p["isReserved"] == (p["name"] in BUILTINS) for p in props)


async def test_include_reserved_fields_must_be_a_boolean(api, tenant):
    response = await api.client.get(
        "/v1/contact-properties?includeReservedFields=maybe", headers=tenant.headers
    )
    assert response.status_code == 400
    assert response.json()["error"]["details"][0]["field"] == "includeReservedFields"


async def test_legacy_field_names_are_accepted(api, tenant):
    response = await create(api, tenant, {"fieldName": "score", "fieldType": "number", "defaultValue": 0})
    assert response.status_code == 200, response.text
    assert (response.json()["data"]["name"], response.json()["data"]["type"]) == ("score", "number")


@pytest.mark.parametrize(
    "body,field",
    [
        ({"type": "string"}, "name"),
        ({"name": "plan"}, "type"),
        ({"name": 5, "type": "string"}, "name"),
        ({"name": "plan", "type": "text"}, "type"),
        ({"name": "", "type": "string"}, "name"),
        ({"name": "x" * 101, "type": "string"}, "name"),
        ({"name": "has space", "type": "string"}, "name"),
        ({"name": "firstName", "type": "string"}, "name"),
        ({"name": "first_name", "type": "string"}, "name"),
        ({"name": "EMAIL", "type": "string"}, "name"),
        ({"name": "country", "type": "string"}, "name"),
        ({"name": "plan", "type": "string", "description": "d" * 501}, "description"),
        ({"name": "plan", "type": "string", "description": 5}, "description"),
        ({"name": "age", "type": "number", "defaultValue": "ten"}, "defaultValue"),
        ({"name": "vip", "type": "boolean", "defaultValue": 1}, "defaultValue"),
        ({"name": "born", "type": "date", "defaultValue": "someday"}, "defaultValue"),
    ],
)
async def test_bad_bodies_are_400_and_write_nothing(api, tenant, body, field):
    response = await create(api, tenant, body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_FAILED" and error["details"][0]["field"] == field
    listed = await api.client.get(
        "/v1/contact-properties?includeReservedFields=false", headers=tenant.headers
    )
    assert listed.json()["data"]["contactProperties"] == []


async def test_name_limits_at_the_bound(api, tenant):
    response = await create(api, tenant, {"name": "x" * 100, "type": "string", "description": "d" * 500})
    assert response.status_code == 200 and response.json()["data"]["name"] == "x" * 100


async def test_names_are_unique_ignoring_case(api, tenant, other_tenant):
    assert (await create(api, tenant, {"name": "plan", "type": "string"})).status_code == 200
    for name in ("plan", "Plan"):
        response = await create(api, tenant, {"name": name, "type": "number"})
        assert (
            response.status_code == 409
            and response.json()["error"]["code"] == "CONTACT_PROPERTY_ALREADY_EXISTS"
        )
    assert (await create(api, other_tenant, {"name": "plan", "type": "number"})).status_code == 200
    got = await api.client.get("/v1/contact-properties/name/plan", headers=tenant.headers)
    assert got.json()["data"]["type"] == "string"


async def test_another_projects_key_sees_404(api, tenant, other_tenant):
    await create(api, tenant, {"name": "plan", "type": "string"})
    for method, path in (
        ("GET", "/v1/contact-properties/name/plan"),
        ("DELETE", "/v1/contact-properties/name/plan"),
        ("GET", "/v1/custom-fields/fieldName/plan"),
        ("DELETE", "/v1/custom-fields/fieldName/plan"),
    ):
        response = await api.client.request(method, path, headers=other_tenant.headers)
        assert response.status_code == 404
    listed = await api.client.get(
        "/v1/contact-properties?includeReservedFields=false", headers=other_tenant.headers
    )
    assert listed.json()["data"]["contactProperties"] == []
    assert (
        await api.client.get("/v1/contact-properties/name/plan", headers=tenant.headers)
    ).status_code == 200


async def test_deleting_a_property_keeps_contact_values(api, tenant):
    await create(api, tenant, {"name": "age", "type": "number"})
    made = await api.client.post(
        "/v1/contacts", json={"email": "a@example.com", "customFields": {"age": 3}}, headers=tenant.headers
    )
    await api.client.delete("/v1/contact-properties/name/age", headers=tenant.headers)
    got = await api.client.get(f"/v1/contacts/{made.json()['data']['id']}", headers=tenant.headers)
    assert got.json()["data"]["customFields"] == {"age": 3}
    untyped = await api.client.post(
        "/v1/contacts/email",
        json={"email": "a@example.com", "customFields": {"age": "x"}},
        headers=tenant.headers,
    )
    assert untyped.status_code == 200 and untyped.json()["data"]["customFields"] == {"age": "x"}


async def test_custom_fields_alias(api, tenant):
    response = await create(
        api, tenant, {"fieldName": "company", "fieldType": "string"}, path="/v1/custom-fields"
    )
    assert response.status_code == 200, response.text
    field = response.json()["data"]
    assert {k: field[k] for k in ("fieldName", "fieldType", "projectId")} == {
        "fieldName": "company",
        "fieldType": "string",
        "projectId": tenant.project_id,
    }
    listed = (await api.client.get("/v1/custom-fields", headers=tenant.headers)).json()["data"][
        "customFields"
    ]
    assert listed == [field]
    got = await api.client.get("/v1/custom-fields/fieldName/company", headers=tenant.headers)
    assert got.json()["data"] == field
    same = await api.client.get("/v1/contact-properties/name/company", headers=tenant.headers)
    assert same.json()["data"]["id"] == field["id"]
    duplicate = await create(
        api, tenant, {"fieldName": "company", "fieldType": "string"}, path="/v1/custom-fields"
    )
    assert duplicate.status_code == 409 and duplicate.json()["error"]["code"] == "CUSTOM_FIELD_ALREADY_EXISTS"
    assert (
        await api.client.delete("/v1/custom-fields/fieldName/company", headers=tenant.headers)
    ).status_code == 200
    for method in ("GET", "DELETE"):
        gone = await api.client.request(method, "/v1/custom-fields/fieldName/company", headers=tenant.headers)
        assert gone.status_code == 404 and gone.json()["error"]["code"] == "CUSTOM_FIELD_NOT_FOUND"


async def test_custom_fields_alias_validates_with_legacy_names(api, tenant):
    response = await create(api, tenant, {"fieldName": "ok", "fieldType": "list"}, path="/v1/custom-fields")
    assert response.status_code == 400 and response.json()["error"]["details"][0]["field"] == "fieldType"


ENDPOINTS = [
    ("GET", "/v1/contact-properties", None),
    ("POST", "/v1/contact-properties", {"name": "a", "type": "string"}),
    ("GET", "/v1/contact-properties/name/a", None),
    ("DELETE", "/v1/contact-properties/name/a", None),
    ("GET", "/v1/custom-fields", None),
    ("POST", "/v1/custom-fields", {"fieldName": "a", "fieldType": "string"}),
    ("GET", "/v1/custom-fields/fieldName/a", None),
    ("DELETE", "/v1/custom-fields/fieldName/a", None),
]


@pytest.mark.parametrize("method,path,body", ENDPOINTS)
async def test_every_endpoint_needs_a_valid_key(api, tenant, method, path, body):
    for headers in ({}, {"Authorization": "Bearer AS_wrong"}):
        response = await api.client.request(method, path, json=body, headers=headers)
        assert response.status_code == 401 and response.json()["error"]["code"] == "UNAUTHORIZED"
