"""MCP tools over the project's building blocks: projects, lists and segments, contact
properties, templates, senders and suppression groups. Each calls the service the API uses."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context, MCPServer
from pydantic import BaseModel, Field

from sendhouse.domain.filters import TemplateFilter
from sendhouse.domain.pagination import Page
from sendhouse.mcp_tools.base import ToolEnv, given, with_fields
from sendhouse.services import lists, properties, senders, suppressions, templates
from sendhouse.services import projects as project_service

Id = Annotated[str, Field(min_length=1, max_length=64, description="the id")]
TemplateType = Literal["transactional", "marketing", "automation"]
TemplateName = Annotated[
    str, Field(min_length=1, max_length=90, description="template name (1-90 characters)")
]
Subject = Annotated[
    str,
    Field(min_length=1, max_length=988, description="subject line; merge tags like {{first_name}} allowed"),
]
Short = Annotated[str, Field(max_length=140)]
Html = Annotated[
    str, Field(max_length=4_000_000, description="HTML body; {{var}}, {{#if}}, {{unsubscribe}} merge tags")
]


class TemplateFields(BaseModel):
    """The template fields create_template and update_template take, declared once."""

    templateName: TemplateName | None = None
    subject: Subject | None = None
    emailTemplate: Html | None = None
    plainTextTemplate: Html | None = None
    previewText: Short | None = None
    description: Short | None = None
    templateType: TemplateType | None = Field(None, description="default for a new template: marketing")
    senderId: Annotated[str, Field(max_length=64)] | None = None


def register(server: MCPServer, env: ToolEnv) -> None:
    _projects(server, env)
    _audience(server, env)
    _templates(server, env)
    _senders_and_groups(server, env)


def _projects(server: MCPServer, env: ToolEnv) -> None:
    @server.tool(description="The project this connection acts on (id, name, tracking defaults).")
    async def get_current_project(ctx: Context):
        async def act(principal):
            row = await project_service.get_project(env.db, principal, await env.project_id(principal))
            return project_service.present_project(row)

        return await env.run_as(ctx, act)

    @server.tool(
        description="Projects this key can act on: every project of the organization for an account "
        "key (ASA_…), only its own project for a project key."
    )
    async def list_projects(ctx: Context):
        async def act(principal):
            if principal.is_account:
                rows = await project_service.list_projects(env.db, principal)
            else:
                rows = [await project_service.get_project(env.db, principal, principal.project_id)]
            return {"projects": [project_service.present_project(r) for r in rows]}

        return await env.run_as(ctx, act)

    @server.tool(
        description="Choose the project later calls act on. Account keys (ASA_…) only; a project key "
        "is bound to its project (403 INSUFFICIENT_PERMISSIONS). An x-project-id header, "
        "when sent, still wins."
    )
    async def switch_project(
        ctx: Context,
        projectId: Annotated[str, Field(min_length=1, max_length=64, description="id of the project")],
    ):
        async def act(principal):
            return project_service.present_project(
                await project_service.select_project(env.db, principal, projectId)
            )

        return await env.run_as(ctx, act)


def _audience(server: MCPServer, env: ToolEnv) -> None:
    @server.tool(
        description="Contact lists and segments with their contact counts; the first item is the "
        "virtual 'All Contacts' list (GLOBAL_CONTACT_LIST). Use their ids in toLists."
    )
    async def get_lists_and_segments(ctx: Context, type: Literal["list", "segment"] | None = None):
        return await env.run(ctx, lambda pid: _wrap("lists", lists.list_lists(env.db, pid, type)))

    @server.tool(
        description="Create a contact list, or a segment (type 'segment' with filterCriteria, "
        "optionally parentId of a parent segment). Names are unique in the project."
    )
    async def create_contact_list(
        ctx: Context,
        name: Annotated[str, Field(min_length=1, max_length=200)],
        description: Annotated[str, Field(max_length=500)] | None = None,
        type: Literal["list", "segment"] = "list",
        filterCriteria: Annotated[
            dict[str, Any] | None, Field(description="segment rules, as in the API")
        ] = None,
        parentId: Annotated[str, Field(max_length=64)] | None = None,
    ):
        new = lists.NewList(name, description, type, filterCriteria, parentId)
        return await env.run(ctx, lambda pid: lists.create_list(env.db, pid, new))

    @server.tool(
        description="Contact properties usable as merge tags ({{name}}), with their types; "
        "includeReserved adds the built-in ones (email, firstName, ...)."
    )
    async def list_contact_properties(ctx: Context, includeReserved: bool = True):
        def found(pid):
            return properties.list_properties(env.db, pid, include_reserved=includeReserved)

        return await env.run(ctx, lambda pid: _wrap("contactProperties", found(pid)))


def _templates(server: MCPServer, env: ToolEnv) -> None:
    @server.tool(
        description="Templates, newest first, paginated; `search` matches name, subject or id "
        "(case-insensitive substring); `templateType` filters by type."
    )
    async def list_templates(
        ctx: Context,
        search: Annotated[str, Field(max_length=200)] | None = None,
        templateType: TemplateType | None = None,
        page: Annotated[int, Field(ge=1, le=100_000)] = 1,
        limit: Annotated[int, Field(ge=1, le=100)] = 20,
    ):
        f = TemplateFilter(query=search, template_type=templateType)
        return await env.run(ctx, lambda pid: templates.search_templates(env.db, pid, f, Page(page, limit)))

    @server.tool(description="One template with its HTML (emailTemplate), subject and sender.")
    async def get_template(ctx: Context, templateId: Id):
        return await env.run(ctx, lambda pid: templates.get_template(env.db, pid, templateId))

    @server.tool(
        description="Create a template (code builder). Templates used by automations need "
        "templateType 'automation'."
    )
    @with_fields(TemplateFields, required=("templateName", "subject"))
    async def create_template(ctx: Context, **fields):
        fields = {"templateType": "marketing", **given(**fields)}
        return await env.run(
            ctx, lambda pid: templates.create_template(env.db, pid, fields | {"builderType": "code"})
        )

    @server.tool(description="Change the given fields of a template; fields left out stay as they are.")
    @with_fields(TemplateFields)
    async def update_template(ctx: Context, templateId: Id, **fields):
        fields = given(**fields)
        return await env.run(ctx, lambda pid: templates.update_template(env.db, pid, templateId, fields))

    @server.tool(description="Delete a template (campaigns that copied its content keep it).")
    async def delete_template(ctx: Context, templateId: Id):
        return await env.run(ctx, lambda pid: _deleted(templates.delete_template(env.db, pid, templateId)))


def _senders_and_groups(server: MCPServer, env: ToolEnv) -> None:
    @server.tool(description="Authenticated senders (from addresses) of the project.")
    async def list_senders(ctx: Context):
        return await env.run(ctx, lambda pid: _wrap("senders", senders.list_senders(env.db, pid)))

    @server.tool(description="One authenticated sender by id.")
    async def get_sender(ctx: Context, senderId: Id):
        return await env.run(ctx, lambda pid: senders.get_sender(env.db, pid, senderId))

    @server.tool(description="Add an authenticated sender (a from address, optional name and reply-to).")
    async def create_sender(
        ctx: Context,
        email: Annotated[str, Field(min_length=3, max_length=320)],
        name: Annotated[str, Field(max_length=200)] | None = None,
        replyTo: Annotated[str, Field(max_length=320)] | None = None,
    ):
        return await env.run(
            ctx,
            lambda pid: senders.create_sender(
                env.db, env.settings, pid, email=email, name=name, reply_to=replyTo
            ),
        )

    @server.tool(
        description="Suppression (unsubscribe) groups; use a group's short groupId as a campaign's unsubscribeGroupId."
    )
    async def list_suppression_groups(ctx: Context):
        async def act(pid):
            return {
                "groups": [suppressions.present_group(r) for r in await suppressions.list_groups(env.db, pid)]
            }

        return await env.run(ctx, act)

    @server.tool(description="One suppression group by its short groupId (e.g. 'AB12C').")
    async def get_suppression_group(
        ctx: Context, groupId: Annotated[str, Field(min_length=1, max_length=12)]
    ):
        async def act(pid):
            return suppressions.present_group(await suppressions.get_group(env.db, pid, groupId))

        return await env.run(ctx, act)

    @server.tool(description="Create a suppression (unsubscribe) group.")
    async def create_suppression_group(
        ctx: Context,
        name: Annotated[str, Field(min_length=1, max_length=200)],
        description: Annotated[str, Field(max_length=500)] | None = None,
        isActive: bool = True,
    ):
        async def act(pid):
            row = await suppressions.create_group(
                env.db, pid, name=name, description=description, is_active=isActive
            )
            return suppressions.present_group(row)

        return await env.run(ctx, act)


async def _wrap(key: str, found) -> dict:
    return {key: await found}


async def _deleted(done) -> dict:
    await done
    return {"deleted": True}
