"""What every MCP tool shares: who is calling (a bearer key over HTTP, the fixed project of the
stdio process), the project a call acts on, and the result shapes.

A tool answers AutoSend's envelope as JSON text and as structured content:
`{"success": true, "data": …}`, or on failure an MCP tool error (isError) carrying
`{"success": false, "message", "error": {"code", "message", "details"?}}`, the same code and message the
HTTP API would answer.
"""

from __future__ import annotations

import inspect
import types
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar, Union, get_args, get_origin

import orjson
from mcp.server.mcpserver import Context
from mcp_types import CallToolResult, TextContent
from pydantic import BaseModel, Field
from pydantic.fields import FieldInfo

from sendhouse.bootstrap import Container
from sendhouse.errors import AppError, InvalidInput, RateLimited
from sendhouse.services import projects as project_service
from sendhouse.services.projects import Principal

# Fields that would schedule or send a campaign: never taken from an MCP create or update.
SCHEDULING_FIELDS = ("publish", "sendNow", "scheduledAt")


def _json(body: dict) -> list[TextContent]:
    return [TextContent(type="text", text=orjson.dumps(body, option=orjson.OPT_NON_STR_KEYS).decode())]


def ok(data: Any = None, message: str | None = None) -> CallToolResult:
    body = {"success": True, "data": data, **({"message": message} if message else {})}
    return CallToolResult(content=_json(body), structured_content=body)


def failure(exc: AppError) -> CallToolResult:
    error = {"code": exc.code, "message": exc.message}
    if exc.details is not None:
        error["details"] = exc.details
    body = {"success": False, "message": exc.message, "error": error}
    return CallToolResult(content=_json(body), structured_content=body, is_error=True)


def bearer(header: str | None) -> str | None:
    scheme, _, value = (header or "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else None


def given(**fields: Any) -> dict:
    """The arguments a caller actually gave (None means not given)."""
    return {name: value for name, value in fields.items() if value is not None}


Tool = TypeVar("Tool", bound=Callable[..., Any])


def with_fields(model: type[BaseModel], *, required: Iterable[str] = ()) -> Callable[[Tool], Tool]:
    """Give a tool ending in `**fields` one keyword parameter per field of `model` (optional unless
    named in `required`), so one declaration of a field list serves several tools: the SDK builds
    each tool's input schema and argument validation from its signature."""
    needed = set(required)

    def decorate(tool: Tool) -> Tool:
        signature = inspect.signature(tool, eval_str=True)
        own = [p for p in signature.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
        added = [_parameter(name, info, name in needed) for name, info in model.model_fields.items()]
        # inspect.signature reads __signature__ from any callable, but no callable type declares it
        tool.__signature__ = signature.replace(parameters=[*own, *added])  # type: ignore[attr-defined]
        tool.__annotations__ = {**tool.__annotations__, **{p.name: p.annotation for p in added}}
        return tool

    return decorate


def _parameter(name: str, info: FieldInfo, required: bool) -> inspect.Parameter:
    kind: Any = info.annotation
    if required and get_origin(kind) in (Union, types.UnionType):
        kind = Union[tuple(arg for arg in get_args(kind) if arg is not type(None))]  # noqa: UP007 - built at run time
    schema = Field(description=info.description, json_schema_extra=info.json_schema_extra)
    return inspect.Parameter(
        name,
        inspect.Parameter.KEYWORD_ONLY,
        annotation=Annotated[kind, *info.metadata, schema],  # constraints (lengths, bounds) kept
        default=inspect.Parameter.empty if required else None,
    )


@dataclass
class ToolEnv:
    """The container and, for stdio and in-process use, the principal every call acts as."""

    container: Container
    fixed: Principal | None = None

    @property
    def db(self):
        return self.container.db

    @property
    def settings(self):
        return self.container.settings

    async def principal(self, ctx: Context) -> Principal:
        """The caller: the fixed principal, or the bearer key (and x-project-id) of this HTTP request."""
        if self.fixed is not None:
            return self.fixed
        headers = ctx.headers or {}
        principal = await project_service.authenticate(
            self.db, secret=bearer(headers.get("authorization")), project_header=headers.get("x-project-id")
        )
        verdict = self.container.rate_limiter.hit(principal.api_key_id)
        if not verdict.allowed:
            raise RateLimited(verdict.retry_after)
        return principal

    async def project_id(self, principal: Principal) -> str:
        """The project of a project key, or the one an account key chose (x-project-id or switch_project)."""
        chosen = principal.project_id or await project_service.selected_project(self.db, principal)
        if chosen is None:
            raise InvalidInput.field(
                "projectId",
                "this account key has no project: call switch_project or send the x-project-id header",
            )
        return chosen

    async def run_as(self, ctx: Context, action: Callable[[Principal], Awaitable[Any]]) -> CallToolResult:
        """Run action(principal); AppErrors become tool errors."""
        try:
            return ok(await action(await self.principal(ctx)))
        except AppError as exc:
            return failure(exc)

    async def run(self, ctx: Context, action: Callable[[str], Awaitable[Any]]) -> CallToolResult:
        """Run action(project_id) on the caller's project; AppErrors become tool errors."""

        async def scoped(principal: Principal) -> Any:
            return await action(await self.project_id(principal))

        return await self.run_as(ctx, scoped)
