"""Projects, API keys and authentication of a bearer key.

Each project created on its own (CLI, first run) gets an organization of its own; a project made
with an account key joins that key's organization, so an account key reaches only the projects of
its organization. A key may expire (`expires_at`); its last use is stamped at most once a minute.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from sendhouse.domain import ids
from sendhouse.domain.regions import REGIONS
from sendhouse.domain.times import iso, utcnow
from sendhouse.errors import Conflict, Forbidden, InvalidInput, InvalidOperation, NotFound, Unauthorized
from sendhouse.services.suppressions import create_default_group, create_global_group
from sendhouse.store import kv
from sendhouse.store import projects as store
from sendhouse.store.db import Database

DEFAULT_PROJECT = "default"


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key and the project it acts on (None for an account key without x-project-id)."""

    api_key_id: str
    kind: str  # project | account
    organization_id: str
    project_id: str | None
    expires_at: datetime | None = None

    @property
    def is_account(self) -> bool:
        return self.kind == "account"


def present_project(row: dict) -> dict:
    """AutoSend's project object."""
    return {
        "id": row["id"],
        "name": row["name"],
        "domain": row["domain"],
        "domains": [],
        "regionKey": row["region_key"],
        "trackingOpen": row["tracking_open"],
        "trackingClick": row["tracking_click"],
        "createdAt": iso(row["created_at"]),
        "inboundEmailDomain": None,
    }


async def _new_organization(conn, name: str) -> str:
    org_id = ids.new_id()
    await store.insert_organization(conn, {"id": org_id, "name": name, "created_at": utcnow()})
    return org_id


async def create_project_in(
    conn,
    *,
    name: str,
    domain: str | None = None,
    region_key: str | None = None,
    organization_id: str | None = None,
) -> dict:
    """Create a project inside an open transaction (and everything a new project starts with), in
    `organization_id`, or in a new organization of its own."""
    name = (name or "").strip()
    if not 1 <= len(name) <= 100:
        raise InvalidInput.field("name", "name is required and must be at most 100 characters")
    if region_key is not None and region_key not in REGIONS:
        raise InvalidInput.field("regionKey", f"must be one of {', '.join(REGIONS)}")
    now = utcnow()
    row = {
        "id": ids.new_id(),
        "organization_id": organization_id or await _new_organization(conn, name),
        "name": name,
        "domain": domain,
        "region_key": region_key or "us-east-1",
        "tracking_open": True,
        "tracking_click": True,
        "created_at": now,
        "updated_at": now,
    }
    await store.insert_project(conn, row)
    await create_global_group(conn, row)
    await create_default_group(conn, row)
    return row


async def create_project(
    db: Database,
    *,
    name: str,
    domain: str | None = None,
    region_key: str | None = None,
    organization_id: str | None = None,
) -> dict:
    """Create a project (in a new organization unless one is given)."""
    async with db.write() as conn:
        return await create_project_in(
            conn, name=name, domain=domain, region_key=region_key, organization_id=organization_id
        )


async def create_named_project(db: Database, *, name: str) -> dict:
    """Create a project whose name no live project has (the CLI finds projects by name)."""
    async with db.write() as conn:
        taken = await store.find_project_by_name(conn, name.strip())
        if taken is not None:
            raise Conflict(
                f"A project named {name.strip()!r} exists already ({taken['id']})", code="PROJECT_EXISTS"
            )
        return await create_project_in(conn, name=name)


async def list_projects(db: Database, principal: Principal) -> list[dict]:
    async with db.read() as conn:
        return await store.list_projects(conn, principal.organization_id)


def check_project_id(project_id: str) -> None:
    """A project id is 24 hex characters; anything else is AutoSend's 400 VALIDATION_ERROR."""
    if not ids.is_object_id(project_id.lower()):
        raise InvalidInput(
            "Invalid project ID",
            code="VALIDATION_ERROR",
            details=[{"field": "projectId", "message": "Invalid project ID"}],
        )


async def get_project(db: Database, principal: Principal, project_id: str) -> dict:
    check_project_id(project_id)
    async with db.read() as conn:
        row = await store.get_project(conn, project_id, principal.organization_id)
    if row is None:
        raise NotFound("Project not found", code="PROJECT_NOT_FOUND")
    return row


async def delete_project(db: Database, principal: Principal, project_id: str) -> None:
    """Delete a project; the last one of an organization cannot be deleted."""
    check_project_id(project_id)
    async with db.write() as conn:
        if await store.get_project(conn, project_id, principal.organization_id) is None:
            raise NotFound("Project not found", code="PROJECT_NOT_FOUND")
        if await store.count_projects(conn, principal.organization_id) <= 1:
            raise InvalidOperation(
                "The last project cannot be deleted", code="LAST_PROJECT_CANNOT_BE_DELETED"
            )
        await store.soft_delete_project(conn, project_id, utcnow())
    _principals.clear()


async def resolve_project(db: Database, name_or_id: str) -> dict:
    """Find a project by id or by name (CLI)."""
    async with db.read() as conn:
        row = await store.get_project(conn, name_or_id) or await store.find_project_by_name(conn, name_or_id)
    if row is None:
        raise NotFound(f"No project named or with id {name_or_id!r}", code="PROJECT_NOT_FOUND")
    return row


async def create_api_key(
    db: Database,
    *,
    project_id: str,
    account: bool = False,
    name: str = "",
    expires_at: datetime | None = None,
) -> tuple[dict, str]:
    """Create a key for a project (or an account key for its organization), valid until `expires_at`
    when given. The secret is returned once."""
    if expires_at is not None and expires_at <= utcnow():
        raise InvalidInput.field("expiresAt", "the expiry must be in the future")
    secret = ids.new_api_key(account=account)
    async with db.write() as conn:
        project = await store.get_project(conn, project_id)
        if project is None:
            raise NotFound("Project not found", code="PROJECT_NOT_FOUND")
        row = {
            "id": ids.new_id(),
            "organization_id": project["organization_id"],
            "project_id": None if account else project_id,
            "kind": "account" if account else "project",
            "key_hash": ids.hash_api_key(secret),
            "prefix": secret[:8],
            "name": name,
            "created_at": utcnow(),
            "expires_at": expires_at,
        }
        await store.insert_api_key(conn, row)
    return row, secret


async def revoke_api_key(db: Database, *, project_id: str, key_id: str) -> None:
    async with db.write() as conn:
        if not await store.revoke_api_key(conn, key_id, project_id, utcnow()):
            raise NotFound("API key not found", code="API_KEY_NOT_FOUND")
    _principals.clear()


def forget_cached_principals() -> None:
    """After a revocation: this process stops accepting the key at once (others within AUTH_CACHE_SECONDS)."""
    _principals.clear()


class _PrincipalCache:
    """Recently authenticated keys, so a burst of requests does not re-read the key every time.

    Entries live AUTH_CACHE_SECONDS; revoking a key or deleting a project in this process clears
    the cache at once, other replicas see a revocation within AUTH_CACHE_SECONDS.
    """

    def __init__(self, ttl: float):
        self.ttl = ttl
        self._entries: dict[tuple[str, str | None], tuple[Principal, float]] = {}

    def get(self, key: tuple[str, str | None]) -> Principal | None:
        entry = self._entries.get(key)
        if entry is None or entry[1] < time.monotonic():
            return None
        return entry[0]

    def put(self, key: tuple[str, str | None], principal: Principal) -> None:
        if len(self._entries) > 10_000:
            self._entries.clear()
        self._entries[key] = (principal, time.monotonic() + self.ttl)

    def clear(self) -> None:
        self._entries.clear()


AUTH_CACHE_SECONDS = 5.0
USE_STAMP_SECONDS = 60.0
_stamped: dict[str, float] = {}
_principals = _PrincipalCache(AUTH_CACHE_SECONDS)


async def authenticate(db: Database, *, secret: str | None, project_header: str | None) -> Principal:
    """Turn a bearer secret (and x-project-id for account keys) into a Principal, or raise Unauthorized."""
    if not secret or not secret.startswith(("AS_", "ASA_", "as_", "asa_")):
        raise Unauthorized()
    cache_key = (ids.hash_api_key(secret), project_header)
    principal = _principals.get(cache_key)
    if principal is None:
        principal = await _authenticate(db, cache_key[0], project_header)
        _principals.put(cache_key, principal)
    if principal.expires_at is not None and principal.expires_at <= utcnow():
        _principals.clear()
        raise Unauthorized("This API key has expired", code="API_KEY_EXPIRED")
    await _stamp_use(db, principal.api_key_id)
    return principal


async def _stamp_use(db: Database, key_id: str) -> None:
    """Record the key's last use, at most once per USE_STAMP_SECONDS from this process."""
    now = time.monotonic()
    if now - _stamped.get(key_id, float("-inf")) < USE_STAMP_SECONDS:
        return
    if len(_stamped) > 10_000:
        _stamped.clear()
    _stamped[key_id] = now
    moment = utcnow()
    async with db.write() as conn:
        await store.stamp_key_use(conn, key_id, moment, moment - timedelta(seconds=USE_STAMP_SECONDS))


async def _authenticate(db: Database, key_hash: str, project_header: str | None) -> Principal:
    """The key and its project by index, as a quick read: on SQLite it never yields to the event
    loop, so when a cached key expires the first request reads it again and the requests after it
    find it cached (no herd of reads on the driver's threads)."""
    async with db.quick_read() as conn:
        key = await store.find_api_key(conn, key_hash)
        if key is None:
            raise Unauthorized()
        expires = key["expires_at"]
        if key["kind"] == "project":
            if await store.get_project(conn, key["project_id"]) is None:
                raise Unauthorized()
            return Principal(key["id"], "project", key["organization_id"], key["project_id"], expires)
        project_id = None
        if project_header:
            if await store.get_project(conn, project_header, key["organization_id"]) is None:
                raise NotFound("Project not found", code="PROJECT_NOT_FOUND")
            project_id = project_header
        return Principal(key["id"], "account", key["organization_id"], project_id, expires)


def require_project(principal: Principal) -> str:
    """The project a request acts on; an account key must name one with x-project-id."""
    if principal.project_id is None:
        raise InvalidInput.field("x-project-id", "the x-project-id header is required with an account key")
    return principal.project_id


def require_account(principal: Principal) -> None:
    if not principal.is_account:
        raise Forbidden("This endpoint needs an account API key (ASA_…)", code="INSUFFICIENT_PERMISSIONS")


def _selection_key(principal: Principal) -> str:
    return f"mcp-project:{principal.api_key_id}"


async def select_project(db: Database, principal: Principal, project_id: str) -> dict:
    """Remember the project an account key acts on when it names none (MCP switch_project)."""
    require_account(principal)
    async with db.write() as conn:
        row = await store.get_project(conn, project_id, principal.organization_id)
        if row is None:
            raise NotFound("Project not found", code="PROJECT_NOT_FOUND")
        await kv.put_text(conn, _selection_key(principal), project_id, utcnow())
    return row


async def selected_project(db: Database, principal: Principal) -> str | None:
    """The project select_project remembered for this account key, if it still exists."""
    async with db.read() as conn:
        project_id = await kv.get_text(conn, _selection_key(principal))
        if project_id and await store.get_project(conn, project_id, principal.organization_id):
            return project_id
    return None


async def ensure_first_run(db: Database) -> tuple[dict, str] | None:
    """On an empty database, create project `default` and one key for it; return (project, key) once."""
    async with db.read() as conn:
        if await store.list_projects(conn):
            return None
    project = await create_project(db, name=DEFAULT_PROJECT)
    _, secret = await create_api_key(db, project_id=project["id"], name="first key")
    return project, secret
