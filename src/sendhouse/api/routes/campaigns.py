"""/v1/campaigns: list, create (with Idempotency-Key), get, update, delete, duplicate, pause,
resume, abort and analytics. Thin: bodies are parsed here, everything else is services/campaigns.py."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Depends, Header, Query, Request
from pydantic import Field

from sendhouse.api.deps import CurrentPrincipal, Db, ProjectId, container
from sendhouse.api.envelope import ok
from sendhouse.api.json_body import JsonRoute
from sendhouse.api.models import Address, RequestModel
from sendhouse.api.routing import PrefixRouter
from sendhouse.domain.campaign_fields import CampaignFields
from sendhouse.domain.campaigns import Status
from sendhouse.domain.filters import CampaignFilter
from sendhouse.domain.pagination import Page
from sendhouse.domain.times import parse_iso
from sendhouse.services import campaigns as service
from sendhouse.services import idempotency

router = PrefixRouter(prefix="/v1/campaigns", tags=["campaigns"], route_class=JsonRoute)


class CampaignUpdate(CampaignFields, RequestModel):
    """The shared campaign fields, plus `from` as an object and the scheduling flags; every field
    optional; lengths, formats and references are checked by the service."""

    from_: Address | None = Field(None, alias="from")
    sendNow: bool | None = None
    scheduledAt: str | None = None
    publish: bool | None = None


class CampaignCreate(CampaignUpdate):
    name: str
    subject: str
    defaultCampaign: bool | None = None
    builderType: str | None = None


def _fields(body: RequestModel) -> dict:
    """The fields the client sent, under AutoSend's names."""
    return body.model_dump(exclude_unset=True, by_alias=True)


async def _send_now_delay(request: Request) -> int:
    return container(request).settings.send_now_delay


SendNowDelay = Annotated[int, Depends(_send_now_delay)]


async def _verified_domain(request: Request) -> bool:
    return container(request).settings.verified_domain_required()


VerifiedDomain = Annotated[bool, Depends(_verified_domain)]


@router.get("")
async def list_campaigns(
    project_id: ProjectId,
    db: Db,
    status: Status | None = None,
    name: Annotated[str | None, Query(max_length=200)] = None,
    startDate: str | None = None,
    endDate: str | None = None,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    includeCounts: Literal["true", "false"] = "false",
):
    filters = CampaignFilter(
        status=status,
        name=name or None,
        created_from=parse_iso(startDate, field="startDate") if startDate else None,
        created_to=parse_iso(endDate, field="endDate") if endDate else None,
    )
    data = await service.list_campaigns(
        db, project_id, filters, Page(page, limit), include_counts=includeCounts == "true"
    )
    return ok(data, message="Campaigns retrieved successfully")


@router.post("")
async def create_campaign(
    body: CampaignCreate,
    request: Request,
    principal: CurrentPrincipal,
    project_id: ProjectId,
    db: Db,
    delay: SendNowDelay,
    verified: VerifiedDomain,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
):
    idem = idempotency.key_for(
        api_key_id=principal.api_key_id,
        project_id=project_id,
        route="POST /v1/campaigns",
        key=idempotency_key,
        body=await request.body(),
    )

    async def run(key: idempotency.Key | None) -> dict:
        return await service.create_campaign(
            db,
            project_id,
            _fields(body),
            source="api",
            send_now_delay=delay,
            idempotency_key=key,
            verified_domain=verified,
        )

    outcome = await idempotency.once(db, idem, run)
    response = ok(outcome.data, message="Campaign created successfully")
    response.headers.update(outcome.headers)
    return response


@router.get("/{campaign_id}")
async def get_campaign(campaign_id: str, project_id: ProjectId, db: Db):
    return ok(
        await service.get_campaign(db, project_id, campaign_id), message="Campaign retrieved successfully"
    )


@router.patch("/{campaign_id}")
async def update_campaign(
    campaign_id: str,
    body: CampaignUpdate,
    project_id: ProjectId,
    db: Db,
    delay: SendNowDelay,
    verified: VerifiedDomain,
):
    data = await service.update_campaign(
        db, project_id, campaign_id, _fields(body), send_now_delay=delay, verified_domain=verified
    )
    return ok(data, message="Campaign updated successfully")


@router.delete("/{campaign_id}")
async def delete_campaign(campaign_id: str, project_id: ProjectId, db: Db):
    await service.delete_campaign(db, project_id, campaign_id)
    return ok(message="Campaign deleted successfully")


@router.post("/{campaign_id}/duplicate")
async def duplicate_campaign(campaign_id: str, project_id: ProjectId, db: Db):
    data = await service.duplicate_campaign(db, project_id, campaign_id)
    return ok(data, message="Campaign duplicated successfully")


@router.post("/{campaign_id}/pause")
async def pause_campaign(campaign_id: str, project_id: ProjectId, db: Db):
    return ok(
        await service.pause_campaign(db, project_id, campaign_id), message="Campaign paused successfully"
    )


@router.post("/{campaign_id}/resume")
async def resume_campaign(campaign_id: str, project_id: ProjectId, db: Db):
    return ok(
        await service.resume_campaign(db, project_id, campaign_id), message="Campaign resumed successfully"
    )


@router.post("/{campaign_id}/abort")
async def abort_campaign(campaign_id: str, project_id: ProjectId, db: Db):
    return ok(
        await service.abort_campaign(db, project_id, campaign_id), message="Campaign aborted successfully"
    )


@router.get("/{campaign_id}/analytics")
async def campaign_analytics(campaign_id: str, project_id: ProjectId, db: Db):
    data = await service.campaign_analytics(db, project_id, campaign_id)
    return ok(data, message="Campaign analytics retrieved successfully")
