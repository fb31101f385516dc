"""Keys against every operation of the OpenAPI document, on SQLite and PostgreSQL.

- no key, a malformed key, an unknown key, a revoked key: 401 in the envelope, everywhere;
- another project's key: 404 on every operation that names a resource of project A, A's data never
  in the answer, and A's resources unchanged afterwards; lists never show another project's rows;
- every POST/PUT/PATCH refuses bodies over the limit with 413 (by Content-Length and streamed).
"""

from __future__ import annotations

import re

import httpx2
import pytest

from sendhouse.app import create_app
from sendhouse.services import projects as project_service
from tests.support.resources import create_all

PLAUSIBLE = {
    "template_id": "A-" + "0" * 20,
    "group_id": "ZZZZZZ",
    "name": "plan",
    "user_id": "someone",
    "email": "owner@example.com",
}
PUBLIC = [("get", "/v1/jwks.json")]  # documented without security: the key to encrypt bodies with
BODY_METHODS = ("post", "put", "patch")


def operations(app) -> list[tuple[str, str]]:
    """(method, path template) of every operation the document describes as needing a key."""
    return [
        (method, path)
        for path, ops in app.openapi()["paths"].items()
        for method, op in ops.items()
        if op.get("security") != []
    ]


async def test_only_the_public_key_set_needs_no_key(api):
    public = [
        (m, p)
        for p, ops in api.app.openapi()["paths"].items()
        for m, op in ops.items()
        if op.get("security") == []
    ]
    assert public == PUBLIC
    response = await api.client.get("/v1/jwks.json")
    assert response.status_code == 200 and "d" not in response.json()["keys"][0]


def fill(path: str, ids: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: ids.get(m.group(1), PLAUSIBLE.get(m.group(1), "0" * 24)), path)


async def call(api, method: str, url: str, headers: dict, body: dict | None = None):
    kwargs = {"json": body if body is not None else {}} if method in BODY_METHODS else {}
    return await api.client.request(method.upper(), url, headers=headers, **kwargs)


def assert_error(response, status: int, where: str) -> None:
    assert response.status_code == status, (where, response.status_code, response.text[:300])
    body = response.json()
    assert body["success"] is False and body["error"]["status"] == status, where


async def test_document_covers_the_api(api):
    found = operations(api.app)
    assert len(found) > 70
    assert ("get", "/v1/campaigns/{campaign_id}") in found and ("post", "/v1/mails/send") in found


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer AS_"},
        {"Authorization": "Bearer AS_" + "x" * 40},
        {"Authorization": "Bearer ' OR 1=1 --"},
        {"x-api-key": "nope"},
    ],
    ids=["none", "empty-bearer", "basic", "prefix-only", "unknown", "sql", "x-api-key"],
)
async def test_every_operation_refuses_missing_or_malformed_keys(api, headers):
    for method, path in operations(api.app):
        response = await call(api, method, fill(path, {}), headers)
        assert_error(response, 401, f"{method} {path}")


async def test_every_operation_refuses_a_revoked_key(api):
    project = await project_service.create_project(api.db, name="revoked")
    row, key = await project_service.create_api_key(api.db, project_id=project["id"])
    headers = {"Authorization": f"Bearer {key}"}
    assert (await api.client.get("/v1/campaigns", headers=headers)).status_code == 200
    await project_service.revoke_api_key(api.db, project_id=project["id"], key_id=row["id"])
    for method, path in operations(api.app):
        assert_error(await call(api, method, fill(path, {}), headers), 401, f"{method} {path}")


# An operation's body when the generic {} would be refused before the lookup (400 before 404).
BODIES = {
    ("put", "/v1/templates/{template_id}"): {"templateName": "Hijacked"},
    ("patch", "/v1/templates/{template_id}/preview-text"): {"previewText": "Hijacked"},
    ("patch", "/v1/campaigns/{campaign_id}"): {"name": "Hijacked"},
    ("put", "/v1/webhooks/{webhook_id}"): {"url": "https://evil.example.com/h"},
    ("post", "/v1/webhooks/{webhook_id}/resend"): {"event": "contact.created", "data": {}},
    ("put", "/v1/suppression-groups/{group_id}"): {"name": "Hijacked"},
    ("post", "/v1/contact-lists/{list_id}/contacts/remove"): {"emails": ["owner@example.com"]},
    ("patch", "/v1/contacts/email/{email}/custom-fields"): {"plan": "Hijacked"},
}


# AutoSend answers a missing template on delete with 400 DELETE_TEMPLATE_FAILED (reference: templates).
NOT_FOUND_AS = {("delete", "/v1/templates/{template_id}"): (400, "DELETE_TEMPLATE_FAILED")}


def resource_operations(app) -> list[tuple[str, str]]:
    return [(m, p) for m, p in operations(app) if "{" in p and not p.startswith("/v1/account/")]


async def test_another_projects_key_gets_404_and_never_the_data(api, tenant, other_tenant):
    owned = await create_all(api.client, tenant.headers)
    before = {
        path: (await api.client.get(fill(path, owned), headers=tenant.headers)).json()
        for method, path in resource_operations(api.app)
        if method == "get" and not path.endswith("/analytics")
    }
    secrets = [v for k, v in owned.items() if k.endswith("_id")]
    for method, path in resource_operations(api.app):
        response = await call(
            api, method, fill(path, owned), other_tenant.headers, BODIES.get((method, path))
        )
        status, code = NOT_FOUND_AS.get((method, path), (404, None))
        assert_error(response, status, f"{method} {path}")
        assert code is None or response.json()["error"]["code"] == code
        assert not any(secret in response.text for secret in secrets if secret not in fill(path, {})), path
    after = {
        path: (await api.client.get(fill(path, owned), headers=tenant.headers)).json() for path in before
    }
    assert after == before  # nothing of project A was changed, deleted or resent


LISTS = [
    "/v1/campaigns",
    "/v1/templates",
    "/v1/senders",
    "/v1/domains",
    "/v1/webhooks",
    "/v1/contact-lists",
    "/v1/suppression-groups",
    "/v1/contact-properties",
    "/v1/events",
    "/v1/automations",
]


async def test_lists_never_show_another_projects_rows(api, tenant, other_tenant):
    owned = await create_all(api.client, tenant.headers)
    for path in LISTS:
        mine = await api.client.get(path, headers=tenant.headers)
        theirs = await api.client.get(path, headers=other_tenant.headers)
        assert mine.status_code == theirs.status_code == 200, path
        shown = [v for v in owned.values() if v in mine.text]
        assert shown, f"{path} shows none of the owner's rows"
        assert not [v for v in shown if v in theirs.text], path
    upserted = await api.client.post(
        "/v1/contacts/email", json={"email": "owner@example.com"}, headers=other_tenant.headers
    )  # B's own contact, not A's
    assert upserted.status_code == 200 and owned["contact_id"] not in upserted.text
    assert upserted.json()["data"].get("firstName") is None  # A's "Owner" did not leak


# --- 413 on every body route -------------------------------------------------------------------

LIMIT = 2048


@pytest.fixture
async def small_limit_client(api, settings):
    tight = settings.model_copy(update={"max_body_bytes": LIMIT, "max_mail_body_bytes": LIMIT})
    app = create_app(tight, container=api.container)
    async with httpx2.AsyncClient(
        transport=httpx2.ASGITransport(app=app), base_url="http://sendhouse.test"
    ) as c:
        yield c


def _json_of_size(size: int) -> bytes:
    body = b'{"name": "' + b"a" * max(0, size - 12) + b'"}'
    assert len(body) == size
    return body


async def test_every_body_route_refuses_oversized_bodies(api, tenant, small_limit_client):
    routes = [(m, p) for m, p in operations(api.app) if m in BODY_METHODS]
    assert len(routes) > 30
    headers = {**tenant.headers, "content-type": "application/json"}
    for method, path in routes:
        url = fill(path, {})
        over = await small_limit_client.request(
            method.upper(), url, content=_json_of_size(LIMIT + 1), headers=headers
        )
        assert_error(over, 413, f"{method} {path}")
        at = await small_limit_client.request(
            method.upper(), url, content=_json_of_size(LIMIT), headers=headers
        )
        assert at.status_code != 413 and at.status_code < 500, (method, path, at.status_code, at.text[:200])


async def test_streamed_bodies_without_length_are_cut_at_the_limit(tenant, small_limit_client):
    async def chunks():
        for _ in range(LIMIT // 100 + 2):
            yield b"x" * 100

    response = await small_limit_client.post(
        "/v1/contacts", content=chunks(), headers={**tenant.headers, "content-type": "application/json"}
    )
    assert_error(response, 413, "streamed")
