"""MCP tools over custom events and automations, with the safety rules of reference §12:

- create_automation always makes a DRAFT and update_automation never activates (`active` is not
  a parameter); email steps must use templates of templateType automation;
- activate_automation answers a preview unless called again with confirmed=true;
- pausing an automation is not offered here: it needs a direct API call with a key.
"""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from pydantic import BaseModel, Field

from sendhouse.domain.automations import Status
from sendhouse.mcp_tools.base import ToolEnv, given, with_fields
from sendhouse.services import automations as service
from sendhouse.services import events as event_service

AutomationId = Annotated[str, Field(min_length=1, max_length=64, description="the automation's id")]
Name = Annotated[str, Field(min_length=1, max_length=255, description="automation name (1-255 characters)")]
Confirmed = Annotated[bool, Field(description="false or absent: only answer a preview; true: really do it")]
STEPS_HELP = (
    "steps: [{type: wait, stepId, delay: {value, unit: minutes|hours|days}}, {type: email, stepId, "
    "email: {templateId (an automation template), subject?, senderEmail, senderName?}}, {type: branch, "
    "stepId, branches: [{branchId, filterCriteria, nextStepId}]}]; every email directly after a wait."
)


class AutomationFields(BaseModel):
    """The automation fields create_automation and update_automation take, declared once."""

    name: Name | None = None
    entryCriteria: dict[str, Any] | None = None
    steps: list[dict[str, Any]] | None = None
    description: Annotated[str, Field(max_length=1000)] | None = None
    exitCriteria: dict[str, Any] | None = None
    tags: list[str] | None = None
    unsubscribeGroupId: Annotated[str, Field(max_length=24)] | None = None
    trackingOpen: bool | None = None
    trackingClick: bool | None = None


ENTRY_HELP = (
    "entryCriteria: {type: contact_created|contact_added_to_list|contact_property_matches_with|"
    "contact_property_changes_from_to|event_trigger, contactListId?, eventName?, filterCriteria?}."
)


def register(server: MCPServer, env: ToolEnv) -> None:
    _events(server, env)
    _reading(server, env)
    _writing(server, env)


def _events(server: MCPServer, env: ToolEnv) -> None:
    @server.tool(
        description="Custom event definitions of the project (name, description, typed properties), "
        "newest first."
    )
    async def list_event_definitions(ctx: Context):
        return await env.run(ctx, lambda pid: event_service.list_definitions(env.db, pid))

    @server.tool(description="One custom event definition by its name.")
    async def get_event_definition(
        ctx: Context, eventName: Annotated[str, Field(min_length=1, max_length=64)]
    ):
        return await env.run(ctx, lambda pid: event_service.get_definition(env.db, pid, eventName))


def _reading(server: MCPServer, env: ToolEnv) -> None:
    @server.tool(
        description="Automations, newest first, paginated; filter by status or tags (comma-separated)."
    )
    async def list_automations(
        ctx: Context,
        status: Status | None = None,
        tags: Annotated[str, Field(max_length=500)] | None = None,
        page: Annotated[int, Field(ge=1, le=100_000)] = 1,
        limit: Annotated[int, Field(ge=1, le=100)] = 20,
    ):
        return await env.run(
            ctx,
            lambda pid: service.list_automations(
                env.db, pid, status=status, tags=tags, page=page, limit=limit
            ),
        )

    @server.tool(description="One automation in full: trigger, steps, status and figures per step.")
    async def get_automation(ctx: Context, automationId: AutomationId):
        return await env.run(ctx, lambda pid: service.get_automation(env.db, pid, automationId))


def _writing(server: MCPServer, env: ToolEnv) -> None:
    @server.tool(
        description="Create an automation. It is always a DRAFT (activate it with activate_automation). "
        f"{ENTRY_HELP} {STEPS_HELP}"
    )
    @with_fields(AutomationFields, required=("name",))
    async def create_automation(ctx: Context, **fields):
        values = given(**fields)

        async def act(pid):
            await service.check_automation_templates(env.db, pid, fields.get("steps"))
            return await service.create_automation(env.db, pid, values)

        return await env.run(ctx, act)

    @server.tool(
        description="Edit a draft or paused automation (active ones: CANNOT_EDIT_AUTOMATION). Only the "
        f"given fields change; it is never activated here. {STEPS_HELP}"
    )
    @with_fields(AutomationFields)
    async def update_automation(ctx: Context, automationId: AutomationId, **fields):
        values = given(**fields)

        async def act(pid):
            if fields.get("steps") is not None:
                await service.check_automation_templates(env.db, pid, fields["steps"])
            return await service.update_automation(env.db, pid, automationId, values)

        return await env.run(ctx, act)

    @server.tool(
        description="Activate a draft (or resume a paused) automation. Without confirmed=true it only "
        "answers a preview (trigger, steps, what still blocks it) and changes nothing; with "
        "confirmed=true contacts start entering it. Pausing is not possible through MCP."
    )
    async def activate_automation(ctx: Context, automationId: AutomationId, confirmed: Confirmed = False):
        async def act(pid):
            preview = await service.activation_preview(env.db, pid, automationId)
            if not confirmed:
                return {
                    "confirmed": False,
                    "preview": preview,
                    "next": "call activate_automation again with confirmed=true to activate it",
                }
            return {
                "confirmed": True,
                "automation": await service.activate(env.db, pid, automationId),
                "preview": preview,
            }

        return await env.run(ctx, act)
