"""API keys on both databases: each project made on its own has its own organization, so an account
key reaches only its organization's projects; keys are listed and revoked through the account API,
the dashboard and the CLI; every key may expire; each key's last use is recorded."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from sendhouse.cli import app as cli_app
from sendhouse.domain.times import utcnow
from sendhouse.errors import InvalidInput
from sendhouse.services import projects as project_service
from sendhouse.services import users as user_service
from sendhouse.store.schema.core import api_keys
from tests.integration.test_dashboard_pages import PASSWORD, _csrf
from tests.integration.test_import_contacts import in_db

KEYS = "/v1/account/keys"


def _account(key: str, project_id: str | None = None) -> dict:
    headers = {"Authorization": f"Bearer {key}"}
    return {**headers, "x-project-id": project_id} if project_id else headers


async def _key_row(api, key_id: str) -> dict:
    async with api.db.read() as conn:
        return dict((await conn.execute(sa.select(api_keys).where(api_keys.c.id == key_id))).mappings().one())


async def _key_id(api, secret: str) -> str:
    listed = (await api.client.get(KEYS, headers=_account(secret))).json()["data"]["keys"]
    return next(k["id"] for k in listed if secret.startswith(k["prefix"]) and k["kind"] == "account")


# --- organizations -----------------------------------------------------------------------------


async def test_an_account_key_reaches_only_its_organization(api, tenant, other_tenant):
    key = await api.account_key(tenant.project_id)
    listed = (await api.client.get("/v1/account/projects", headers=_account(key))).json()["data"]["projects"]
    assert [p["id"] for p in listed] == [tenant.project_id]
    foreign = await api.client.get(
        "/v1/contacts/x@example.com", headers=_account(key, other_tenant.project_id)
    )
    assert foreign.status_code == 404 and foreign.json()["error"]["code"] == "PROJECT_NOT_FOUND"
    refused = await api.client.post(
        "/v1/contacts", json={"email": "x@example.com"}, headers=_account(key, other_tenant.project_id)
    )
    assert refused.status_code == 404
    made = await api.client.post("/v1/account/projects", json={"name": "second"}, headers=_account(key))
    assert made.status_code == 201
    listed = (await api.client.get("/v1/account/projects", headers=_account(key))).json()["data"]["projects"]
    assert sorted(p["id"] for p in listed) == sorted([tenant.project_id, made.json()["data"]["id"]])
    theirs = await api.account_key(other_tenant.project_id)
    listed = (await api.client.get("/v1/account/projects", headers=_account(theirs))).json()["data"][
        "projects"
    ]
    assert [p["id"] for p in listed] == [other_tenant.project_id]


# --- account API: list and revoke ------------------------------------------------------------


async def test_account_api_lists_the_organization_keys_without_secrets(api, tenant, other_tenant):
    key = await api.account_key(tenant.project_id)
    await api.account_key(other_tenant.project_id)
    answer = await api.client.get(KEYS, headers=_account(key))
    assert answer.status_code == 200
    found = answer.json()["data"]["keys"]
    assert sorted((k["kind"], k["projectId"]) for k in found) == [
        ("account", None),
        ("project", tenant.project_id),
    ]
    assert set(found[0]) == {
        "id",
        "name",
        "kind",
        "prefix",
        "projectId",
        "createdAt",
        "expiresAt",
        "lastUsedAt",
        "revokedAt",
        "state",
    }
    assert key not in answer.text and tenant.key not in answer.text
    assert all(k["state"] == "active" for k in found)


async def test_account_keys_api_refuses_missing_project_and_wrong_keys(api, tenant):
    assert (await api.client.get(KEYS)).status_code == 401
    assert (await api.client.get(KEYS, headers={"Authorization": "Bearer ASA_nope"})).status_code == 401
    for method in ("GET", "DELETE"):
        path = KEYS if method == "GET" else f"{KEYS}/{'0' * 24}"
        answer = await api.client.request(method, path, headers=tenant.headers)
        assert answer.status_code == 403 and answer.json()["error"]["code"] == "INSUFFICIENT_PERMISSIONS"


async def test_account_api_revokes_keys_of_its_organization_only(api, tenant, other_tenant):
    key = await api.account_key(tenant.project_id)
    listed = (await api.client.get(KEYS, headers=_account(key))).json()["data"]["keys"]
    project_key_id = next(k["id"] for k in listed if k["kind"] == "project")
    revoked = await api.client.delete(f"{KEYS}/{project_key_id}", headers=_account(key))
    assert revoked.status_code == 200 and revoked.json()["data"]["state"] == "revoked"
    assert (await api.client.get("/v1/contacts/x@example.com", headers=tenant.headers)).status_code == 401
    again = await api.client.delete(f"{KEYS}/{project_key_id}", headers=_account(key))
    assert again.status_code == 404 and again.json()["error"]["code"] == "API_KEY_NOT_FOUND"
    theirs = await api.account_key(other_tenant.project_id)
    their_id = await _key_id(api, theirs)
    foreign = await api.client.delete(f"{KEYS}/{their_id}", headers=_account(key))
    assert foreign.status_code == 404
    assert (await _key_row(api, their_id))["revoked_at"] is None
    assert (await api.client.get(KEYS, headers=_account(theirs))).status_code == 200
    assert (await api.client.delete(f"{KEYS}/{'0' * 24}", headers=_account(key))).status_code == 404
    own = await _key_id(api, key)
    assert (await api.client.delete(f"{KEYS}/{own}", headers=_account(key))).status_code == 200
    assert (await api.client.get(KEYS, headers=_account(key))).status_code == 401


# --- expiry and last use ----------------------------------------------------------------------


async def test_keys_expire(api, tenant):
    with pytest.raises(InvalidInput):
        await project_service.create_api_key(api.db, project_id=tenant.project_id, expires_at=utcnow())
    row, secret = await project_service.create_api_key(
        api.db, project_id=tenant.project_id, expires_at=utcnow() + timedelta(days=1)
    )
    headers = {"Authorization": f"Bearer {secret}"}
    assert (await api.client.get("/v1/contacts/x@example.com", headers=headers)).status_code == 404
    async with api.db.write() as conn:  # a day later
        await conn.execute(
            api_keys.update()
            .where(api_keys.c.id == row["id"])
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    project_service.forget_cached_principals()
    expired = await api.client.get("/v1/contacts/x@example.com", headers=headers)
    assert expired.status_code == 401 and expired.json()["error"]["code"] == "API_KEY_EXPIRED"
    key = await api.account_key(tenant.project_id)
    states = {
        k["id"]: k["state"]
        for k in (await api.client.get(KEYS, headers=_account(key))).json()["data"]["keys"]
    }
    assert states[row["id"]] == "expired"


async def test_the_last_use_of_each_key_is_recorded(api, tenant):
    key = await api.account_key(tenant.project_id)
    row, _secret = await project_service.create_api_key(api.db, project_id=tenant.project_id, name="unused")
    before = utcnow()
    await api.client.get("/v1/contacts/x@example.com", headers=tenant.headers)
    found = {k["id"]: k for k in (await api.client.get(KEYS, headers=_account(key))).json()["data"]["keys"]}
    assert found[row["id"]]["lastUsedAt"] is None
    tenant_key = next(k for k in found.values() if k["kind"] == "project" and k["id"] != row["id"])
    assert tenant_key["lastUsedAt"] is not None
    assert (await _key_row(api, tenant_key["id"]))["last_used_at"] >= before - timedelta(seconds=1)


# --- dashboard --------------------------------------------------------------------------------


async def _dashboard(api, tenant) -> str:
    await user_service.create_user(
        api.db, "ada@shop.example", password=PASSWORD, project_id=tenant.project_id
    )
    page = await api.client.get("/app/login")
    await api.client.post(
        "/app/login", data={"email": "ada@shop.example", "password": PASSWORD, "csrf_token": _csrf(page.text)}
    )
    return _csrf((await api.client.get("/app/keys")).text)


async def test_dashboard_lists_creates_with_expiry_and_revokes_account_keys(api, tenant, other_tenant):
    csrf = await _dashboard(api, tenant)
    await api.account_key(other_tenant.project_id)
    made = await api.client.post(
        "/app/keys", data={"name": "deploy", "kind": "account", "expires_days": "30", "csrf_token": csrf}
    )
    assert made.status_code == 200
    secret = re.search(r'<code id="new-key">([^<]+)</code>', made.text)[1]
    assert secret.startswith("ASA_")
    page = (await api.client.get("/app/keys")).text
    assert page.count("data-key=") == 2 and ">account<" in page and ">never<" in page
    expiry = (utcnow() + timedelta(days=30)).strftime("%Y-%m-%d")
    assert expiry in page
    bad = await api.client.post("/app/keys", data={"name": "x", "expires_days": "0", "csrf_token": csrf})
    assert bad.status_code == 400 and "from 1 to 3650" in bad.text
    assert (await api.client.get("/app/keys")).text.count("data-key=") == 2
    account_id = await _key_id(api, secret)
    await api.client.post(f"/app/keys/{account_id}/revoke", data={"csrf_token": csrf})
    assert (await _key_row(api, account_id))["revoked_at"] is not None
    assert (await api.client.get(KEYS, headers=_account(secret))).status_code == 401


async def test_dashboard_cannot_revoke_keys_it_does_not_see(api, tenant, other_tenant):
    csrf = await _dashboard(api, tenant)
    theirs = await api.account_key(other_tenant.project_id)
    their_keys = (await api.client.get(KEYS, headers=_account(theirs))).json()["data"]["keys"]
    for key in their_keys:
        answer = await api.client.post(f"/app/keys/{key['id']}/revoke", data={"csrf_token": csrf})
        assert answer.status_code == 404
        assert (await _key_row(api, key["id"]))["revoked_at"] is None


# --- command line -----------------------------------------------------------------------------


@pytest.fixture
def cli_env(db_url, tmp_path, monkeypatch) -> str:
    monkeypatch.setenv("SENDHOUSE_DATABASE_URL", db_url)
    monkeypatch.setenv("SENDHOUSE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SENDHOUSE_SECRET_KEY", "cli-test-secret")
    return db_url


def test_cli_creates_lists_and_revokes_keys(cli_env):
    runner = CliRunner()
    project = in_db(cli_env, lambda db: project_service.create_project(db, name="alpha"))
    made = runner.invoke(
        cli_app, ["keys", "create", "--project", "alpha", "--account", "--expires-days", "7", "--name", "ops"]
    )
    assert made.exit_code == 0, made.output
    secret = made.output.strip().splitlines()[-1]
    listed = runner.invoke(cli_app, ["keys", "list", "--project", project["id"]], terminal_width=250)
    assert listed.exit_code == 0, listed.output
    assert "account" in listed.output and "ops" in listed.output and secret not in listed.output
    assert (utcnow() + timedelta(days=7)).strftime("%Y-%m-%d") in listed.output
    key_id = re.search(r"\b([0-9a-f]{24})\b.*ops", listed.output)[1]
    revoked = runner.invoke(cli_app, ["keys", "revoke", key_id])
    assert revoked.exit_code == 0 and f"revoked {key_id}" in revoked.output
    again = runner.invoke(cli_app, ["keys", "revoke", key_id])
    assert again.exit_code == 1 and "API key not found" in again.output
    assert "revoked" in runner.invoke(cli_app, ["keys", "list"], terminal_width=250).output
