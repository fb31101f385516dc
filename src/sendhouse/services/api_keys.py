"""Listing and revoking API keys, for the account API, the dashboard and the CLI.

A key is shown without its secret: id, name, kind, the prefix it starts with, its project (None
for account keys), when it was created, when it expires, when it was last used and whether it is
revoked. An account key manages the keys of its organization; the dashboard those of the current
project plus the account keys of the project's organization.
"""

from __future__ import annotations

from datetime import datetime

from sendhouse.domain.times import iso, utcnow
from sendhouse.errors import NotFound
from sendhouse.services import projects as project_service
from sendhouse.services.projects import Principal
from sendhouse.store import projects as store
from sendhouse.store.db import Database


def state_of(row: dict, now: datetime) -> str:
    if row["revoked_at"] is not None:
        return "revoked"
    if row["expires_at"] is not None and row["expires_at"] <= now:
        return "expired"
    return "active"


def present_key(row: dict, now: datetime | None = None) -> dict:
    """A key as the API and the dashboard show it (never its secret)."""
    return {
        "id": row["id"],
        "name": row["name"],
        "kind": row["kind"],
        "prefix": row["prefix"],
        "projectId": row["project_id"],
        "createdAt": iso(row["created_at"]),
        "expiresAt": iso(row["expires_at"]),
        "lastUsedAt": iso(row["last_used_at"]),
        "revokedAt": iso(row["revoked_at"]),
        "state": state_of(row, now or utcnow()),
    }


async def list_organization_keys(db: Database, principal: Principal) -> list[dict]:
    """Every key of the account key's organization."""
    project_service.require_account(principal)
    async with db.read() as conn:
        rows = await store.list_keys_of(conn, principal.organization_id)
    return [present_key(r) for r in rows]


async def list_project_keys(db: Database, project_id: str) -> list[dict]:
    """The keys of a project and the account keys of its organization."""
    async with db.read() as conn:
        project = await store.get_project(conn, project_id)
        if project is None:
            raise NotFound("Project not found", code="PROJECT_NOT_FOUND")
        rows = await store.list_keys_of(conn, project["organization_id"], project_id=project_id)
    return [present_key(r) for r in rows]


async def list_all_keys(db: Database, project: str | None = None) -> list[dict]:
    """For the CLI: every key on the server, or those a project (name or id) sees."""
    if project is not None:
        row = await project_service.resolve_project(db, project)
        return await list_project_keys(db, row["id"])
    async with db.read() as conn:
        organizations = {p["organization_id"] for p in await store.list_projects(conn)}
        rows = [r for org in sorted(organizations) for r in await store.list_keys_of(conn, org)]
    return [present_key(r) for r in sorted(rows, key=lambda r: r["id"])]


async def revoke(
    db: Database, key_id: str, *, organization_id: str | None = None, project_id: str | None = None
) -> dict:
    """Revoke a live key of the organization, or one the project sees (its keys and its organization's
    account keys), or any key when neither is given (CLI). NotFound otherwise, or when already revoked."""
    async with db.write() as conn:
        key = await store.get_api_key(conn, key_id)
        if project_id is not None:
            project = await store.get_project(conn, project_id)
            organization_id = project["organization_id"] if project else "-"
            if key is not None and key["kind"] == "project" and key["project_id"] != project_id:
                key = None
        if key is None or not await store.revoke_key_of(conn, key_id, organization_id, utcnow()):
            raise NotFound("API key not found", code="API_KEY_NOT_FOUND")
        row = await store.get_api_key(conn, key_id)
    assert row is not None  # revoked, not deleted
    project_service.forget_cached_principals()
    return present_key(row)
