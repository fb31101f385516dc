"""/v1/account/keys: list and revoke the API keys of the account key's organization (account keys only)."""

from __future__ import annotations

from sendhouse.api.deps import CurrentPrincipal, Db
from sendhouse.api.envelope import ok
from sendhouse.api.json_body import JsonRoute
from sendhouse.api.routing import PrefixRouter
from sendhouse.services import api_keys as service
from sendhouse.services import projects as project_service

router = PrefixRouter(prefix="/v1/account/keys", tags=["projects"], route_class=JsonRoute)


@router.get("")
async def list_keys(principal: CurrentPrincipal, db: Db):
    return ok({"keys": await service.list_organization_keys(db, principal)})


@router.delete("/{key_id}")
async def revoke_key(key_id: str, principal: CurrentPrincipal, db: Db):
    project_service.require_account(principal)
    key = await service.revoke(db, key_id, organization_id=principal.organization_id)
    return ok(key, message="API key revoked")
