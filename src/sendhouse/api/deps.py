"""Typed dependencies: the app container, the authenticated caller, the project a request acts on."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from starlette.types import ASGIApp, Scope

from sendhouse.api.errors import render_app_error
from sendhouse.errors import AppError, RateLimited
from sendhouse.services import projects as project_service
from sendhouse.services.projects import Principal
from sendhouse.store.db import Database


def container(request: Request):
    """The process-wide container (settings, database, ...) built by app.py."""
    return request.app.state.container


async def current_principal(request: Request) -> Principal:
    """Authenticate the bearer key (or x-api-key; an account key names its project in x-project-id)
    and apply the per-key rate limit, once per request: the request gate has usually done it before
    reading the body. The headers are read here, not declared as parameters (FastAPI would convert
    each one on every request); api/openapi.py documents x-project-id."""
    known = getattr(request.state, "principal", None)
    if known is not None:
        return known
    headers = request.headers
    secret = _bearer(headers.get("authorization")) or headers.get("x-api-key")
    app = container(request)
    principal = await project_service.authenticate(
        app.db, secret=secret, project_header=headers.get("x-project-id")
    )
    verdict = app.rate_limiter.hit(principal.api_key_id)
    request.state.rate_limit = verdict
    if not verdict.allowed:
        raise RateLimited(verdict.retry_after)
    request.state.principal = principal
    return principal


async def api_gate(scope: Scope) -> ASGIApp | None:
    """The request gate's authenticator of /v1: None when the key is good, else the error response."""
    try:
        await current_principal(Request(scope))
    except AppError as exc:
        return render_app_error(exc)
    return None


async def mcp_gate(scope: Scope) -> ASGIApp | None:
    """The request gate's authenticator of /mcp: a valid key, else 401 before the body is read."""
    request = Request(scope)
    secret = _bearer(request.headers.get("authorization"))
    try:
        await project_service.authenticate(container(request).db, secret=secret, project_header=None)
    except AppError as exc:
        return render_app_error(exc)
    return None


def _bearer(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" else None


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


async def current_project_id(principal: CurrentPrincipal) -> str:
    """The project a project-scoped request acts on."""
    return project_service.require_project(principal)


ProjectId = Annotated[str, Depends(current_project_id)]


async def database(request: Request):
    """The database handle (async: FastAPI runs a plain function dependency in a thread)."""
    return container(request).db


Db = Annotated[Database, Depends(database)]
