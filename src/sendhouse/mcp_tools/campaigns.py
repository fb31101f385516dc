"""MCP tools over campaigns and analytics, with the safety rules of reference §12:

- campaigns created or edited through MCP stay drafts: publish, sendNow and scheduledAt are not
  parameters and are stripped if a client sends them anyway; update_campaign edits drafts only;
- send_campaign and send_test_email answer a preview with a short-lived confirmation token bound to
  the campaign and to what the preview showed (domain/confirmations.py); only a second call with
  confirmed=true and that token acts;
- nothing here pauses, resumes or aborts a campaign: those need a direct API call with a key.
"""

from __future__ import annotations

from typing import Annotated, Literal

from mcp.server.mcpserver import Context, MCPServer
from pydantic import Field

from sendhouse.domain import confirmations
from sendhouse.domain.campaign_fields import CampaignFields
from sendhouse.domain.campaigns import MAX_LENGTH, Status
from sendhouse.domain.filters import CampaignFilter
from sendhouse.domain.pagination import Page
from sendhouse.domain.times import utcnow
from sendhouse.errors import InvalidInput, InvalidOperation
from sendhouse.mcp_tools.base import SCHEDULING_FIELDS, ToolEnv, given, with_fields
from sendhouse.services import activity, confirmation_tokens, transactional
from sendhouse.services import campaigns as service

SOURCE = "mcp"
MAX_TEST_ADDRESSES = 10
CampaignId = Annotated[str, Field(min_length=1, max_length=64, description="the campaign's id")]
Email = Annotated[str, Field(min_length=3, max_length=320)]
SenderName = Annotated[
    str, Field(max_length=MAX_LENGTH["from.name"], description="the sender's display name")
]
Confirmed = Annotated[
    bool,
    Field(
        description="false or absent: only answer a preview; true (with the "
        "preview's confirmationToken): really do it"
    ),
]
Token = Annotated[str, Field(max_length=512, description="the confirmationToken the preview answered")]


def _campaign_fields(**kw) -> dict:
    """AutoSend's body fields from tool arguments (the fields of domain/campaign_fields.CampaignFields
    and fromEmail/fromName), never with a scheduling flag."""
    sender = given(email=kw.pop("fromEmail"), name=kw.pop("fromName"))
    fields = given(**kw)
    if sender:
        fields["from"] = {"email": sender.get("email"), "name": sender.get("name")}
    return {k: v for k, v in fields.items() if k not in SCHEDULING_FIELDS}


def register(server: MCPServer, env: ToolEnv) -> None:
    _reading(server, env)
    _writing(server, env)
    _sending(server, env)


def _reading(server: MCPServer, env: ToolEnv) -> None:
    @server.tool(description="Campaigns, newest first, paginated; filter by status or by part of the name.")
    async def list_campaigns(
        ctx: Context,
        status: Status | None = None,
        name: Annotated[str, Field(max_length=200)] | None = None,
        page: Annotated[int, Field(ge=1, le=100_000)] = 1,
        limit: Annotated[int, Field(ge=1, le=100)] = 20,
    ):
        filters = CampaignFilter(status=status, name=name)
        return await env.run(ctx, lambda pid: service.list_campaigns(env.db, pid, filters, Page(page, limit)))

    @server.tool(description="One campaign in full: content, sender, lists, status, schedule and metrics.")
    async def get_campaign(ctx: Context, campaignId: CampaignId):
        return await env.run(ctx, lambda pid: service.get_campaign(env.db, pid, campaignId))

    @server.tool(
        description="A campaign's analytics: counts (sent, delivered, opened, clicked, bounced, ...) "
        "and rates in percent."
    )
    async def get_campaign_analytics(ctx: Context, campaignId: CampaignId):
        return await env.run(ctx, lambda pid: service.campaign_analytics(env.db, pid, campaignId))

    @server.tool(
        description="Email activity of the whole project between startDate and endDate (ISO 8601; "
        "default: the last 30 days, at most 366): ledger counts, opens, clicks, "
        "complaints, unsubscribes and rates; kind narrows to campaign or transactional mail."
    )
    async def get_email_activity_analytics(
        ctx: Context,
        startDate: Annotated[str, Field(max_length=40)] | None = None,
        endDate: Annotated[str, Field(max_length=40)] | None = None,
        kind: Literal["campaign", "transactional"] | None = None,
    ):
        return await env.run(
            ctx,
            lambda pid: activity.email_activity(
                env.db, pid, start_date=startDate, end_date=endDate, kind=kind
            ),
        )


def _writing(server: MCPServer, env: ToolEnv) -> None:
    @server.tool(
        description="Create a campaign. It is always a DRAFT: it is never scheduled or sent from here "
        "(use send_campaign). Content: templateId or htmlTemplate. Sender: fromSenderId or "
        "fromEmail/fromName. Recipients: toLists (list/segment ids) or sendToGlobalList."
    )
    @with_fields(CampaignFields, required=("name", "subject"))
    async def create_campaign(
        ctx: Context, fromEmail: Email | None = None, fromName: SenderName | None = None, **fields
    ):
        values = _campaign_fields(fromEmail=fromEmail, fromName=fromName, **fields)
        return await env.run(
            ctx,
            lambda pid: service.create_campaign(
                env.db, pid, values, source=SOURCE, verified_domain=env.settings.verified_domain_required()
            ),
        )

    @server.tool(
        description="Edit a DRAFT campaign (other states are refused with CAMPAIGN_NOT_EDITABLE). "
        "Only the given fields change; it stays a draft."
    )
    @with_fields(CampaignFields)
    async def update_campaign(
        ctx: Context,
        campaignId: CampaignId,
        fromEmail: Email | None = None,
        fromName: SenderName | None = None,
        **fields,
    ):
        values = _campaign_fields(fromEmail=fromEmail, fromName=fromName, **fields)
        return await env.run(
            ctx,
            lambda pid: service.update_campaign(
                env.db,
                pid,
                campaignId,
                values,
                only_drafts=True,
                verified_domain=env.settings.verified_domain_required(),
            ),
        )

    @server.tool(description="Delete a draft campaign (others: ONLY_DRAFT_CAMPAIGNS_CAN_BE_DELETED).")
    async def delete_campaign(ctx: Context, campaignId: CampaignId):
        async def act(pid):
            await service.delete_campaign(env.db, pid, campaignId)
            return {"campaignId": campaignId, "deleted": True}

        return await env.run(ctx, act)

    @server.tool(description="Copy a campaign into a new draft named 'Copy of …' with the same settings.")
    async def duplicate_campaign(ctx: Context, campaignId: CampaignId):
        return await env.run(
            ctx, lambda pid: service.duplicate_campaign(env.db, pid, campaignId, source=SOURCE)
        )


def _sending(server: MCPServer, env: ToolEnv) -> None:
    @server.tool(
        description="Send a DRAFT campaign. Without confirmed=true it only answers a preview (audience "
        "after suppression, subject, from, start time, what still blocks it) and a "
        "confirmationToken valid 5 minutes; changes nothing. With confirmed=true and that "
        "token (same audience) the campaign is scheduled to start after the abort window. "
        "Stopping a campaign is not possible through MCP."
    )
    async def send_campaign(
        ctx: Context,
        campaignId: CampaignId,
        confirmed: Confirmed = False,
        confirmationToken: Token | None = None,
    ):
        delay = env.settings.send_now_delay

        async def act(pid):
            preview = await service.send_preview(env.db, pid, campaignId, send_now_delay=delay)
            binding = str(preview["audience"]["recipients"])
            if not confirmed:
                return _previewed(env, "send_campaign", pid, campaignId, binding, preview)
            await _confirm(env, confirmationToken, "send_campaign", pid, campaignId, binding)
            done = await service.update_campaign(
                env.db, pid, campaignId, {"sendNow": True}, send_now_delay=delay, only_drafts=True
            )
            scheduled = {k: done[k] for k in ("id", "name", "status", "scheduledAt")}
            return {"confirmed": True, "campaign": scheduled, "preview": preview}

        return await env.run(ctx, act)

    @server.tool(
        description="Send the campaign's content to 1-10 test addresses as transactional mail "
        "(subject prefixed [Test]); the campaign itself does not change. Without "
        "confirmed=true it only answers a preview and a confirmationToken (5 minutes); "
        "a second call with confirmed=true, that token and the same addresses sends."
    )
    async def send_test_email(
        ctx: Context,
        campaignId: CampaignId,
        emails: Annotated[
            list[Email],
            Field(min_length=1, max_length=MAX_TEST_ADDRESSES, description="1 to 10 recipient addresses"),
        ],
        confirmed: Confirmed = False,
        confirmationToken: Token | None = None,
    ):
        async def act(pid):
            body = _test_mail(await service.get_campaign(env.db, pid, campaignId), emails)
            preview = {
                "campaignId": campaignId,
                "to": emails,
                "subject": body["subject"],
                "from": body["from"],
            }
            binding = confirmations.binding_of_addresses(emails)
            if not confirmed:
                return _previewed(env, "send_test_email", pid, campaignId, binding, preview)
            await _confirm(env, confirmationToken, "send_test_email", pid, campaignId, binding)
            queued = await transactional.send_bulk(env.db, env.settings, pid, body)
            return {"confirmed": True, "preview": preview, **queued}

        return await env.run(ctx, act)


def _previewed(
    env: ToolEnv, action: str, project_id: str, campaign_id: str, binding: str, preview: dict
) -> dict:
    token = confirmations.issue(
        env.settings.resolved_secret_key(), action, project_id, campaign_id, binding, utcnow()
    )
    return {
        "confirmed": False,
        "preview": preview,
        "confirmationToken": token,
        "expiresInSeconds": confirmations.TTL_SECONDS,
        "next": f"show the preview; if the user agrees, call {action} again with confirmed=true and "
        "this confirmationToken",
    }


async def _confirm(
    env: ToolEnv, token: str | None, action: str, project_id: str, campaign_id: str, binding: str
) -> None:
    await confirmation_tokens.use_once(
        env.db,
        env.settings.resolved_secret_key(),
        token,
        action,
        (project_id, campaign_id, binding),
        utcnow(),
    )


def _test_mail(campaign: dict, emails: list[str]) -> dict:
    """The /mails/bulk body of a test send of this campaign's content."""
    if len(emails) > MAX_TEST_ADDRESSES:
        raise InvalidInput.field("emails", f"at most {MAX_TEST_ADDRESSES} test addresses")
    sender = campaign["from"]
    if not sender.get("email"):
        raise InvalidOperation(
            "The campaign has no sender yet (fromSenderId or fromEmail)", code="CAMPAIGN_SENDER_REQUIRED"
        )
    html = campaign["htmlTemplate"] or (campaign["template"] or {}).get("emailTemplate")
    return {
        "from": given(**sender),
        "replyTo": {"email": campaign["replyTo"]} if campaign["replyTo"] else None,
        "subject": f"[Test] {campaign['subject']}",
        "html": html,
        "trackingOpen": False,
        "trackingClick": False,
        "recipients": [{"email": e} for e in emails],
    }
