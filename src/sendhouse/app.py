"""create_app(): the one HTTP application of Sendhouse, put together from its front doors: the API
(api/: routers, middleware, error handlers), the dashboard and the public tracking and
unsubscribe pages (web/), and MCP over HTTP (mcp_tools/). The only module that imports them all."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from fastapi import FastAPI

from sendhouse import __version__
from sendhouse.api import errors as api_errors
from sendhouse.api import openapi as api_openapi
from sendhouse.api.deps import api_gate, mcp_gate
from sendhouse.api.encrypted_payload import EncryptedPayloadMiddleware
from sendhouse.api.encrypted_payload import router as jwks_router
from sendhouse.api.input_guard import RequestGate
from sendhouse.api.metrics import RequestMetricsMiddleware
from sendhouse.api.metrics import router as operations_router
from sendhouse.api.middleware import RateLimitHeadersMiddleware
from sendhouse.api.routes import ROUTERS
from sendhouse.bootstrap import Container, build_container
from sendhouse.config import Settings
from sendhouse.mcp_tools import mount_http as mount_mcp
from sendhouse.services.payload_keys import PayloadKeys
from sendhouse.web.dashboard import mount_dashboard
from sendhouse.web.dashboard.audience import MAX_UPLOAD
from sendhouse.web.dashboard.sessions import session_gate
from sendhouse.web.tracking import TrackingEndpoints
from sendhouse.web.tracking import router as tracking_router

MAIL_PATHS = ("/v1/mails/send", "/v1/mails/bulk")
IMPORT_PATH = "/app/imports"


def body_limits(settings: Settings):
    """The body limit of each path: mails carry attachments, the dashboard's CSV upload its file."""

    def limit_of(path: str) -> int:
        if path in MAIL_PATHS:
            return settings.max_mail_body_bytes
        if path == IMPORT_PATH:
            return MAX_UPLOAD + 1024 * 1024  # the file plus the multipart framing and the form fields
        return settings.max_body_bytes

    return limit_of


def create_app(
    settings: Settings | None = None, *, container: Container | None = None, background: list | None = None
) -> FastAPI:
    """The whole HTTP application. `background` parts (factories: container -> async context
    manager, such as the api role's duties from roles.start_duties) start and stop with it."""
    settings = settings or (container.settings if container else Settings())
    built = container or build_container(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            for part in background or []:
                await stack.enter_async_context(part(built))
            for part in app.state.lifespan_parts:
                await stack.enter_async_context(part(built))
            yield
            if container is None:
                await built.close()

    app = FastAPI(
        title="Sendhouse",
        version=__version__,
        lifespan=lifespan,
        description="Self-hosted email campaigns and transactional email, compatible with the AutoSend API.",
    )
    app.state.container = built
    app.state.lifespan_parts = []
    app.state.payload_keys = PayloadKeys(built.db, settings)
    api_errors.install(app)
    api_openapi.install(app)
    app.include_router(operations_router)
    app.include_router(jwks_router)
    for router in ROUTERS:
        app.include_router(router)
    app.include_router(tracking_router)
    mount_mcp(app, built)
    mount_dashboard(app, built)
    app.add_middleware(EncryptedPayloadMiddleware, keys=app.state.payload_keys)  # inside the gate: after auth
    authenticators = (
        ("/v1/", api_gate),
        ("/mcp", mcp_gate),
        ("/app/", session_gate(built.db, settings.resolved_secret_key())),
    )
    app.state.body_limit = body_limits(settings)
    app.add_middleware(RequestGate, limit_of=app.state.body_limit, authenticators=authenticators)
    app.add_middleware(RateLimitHeadersMiddleware)
    app.add_middleware(RequestMetricsMiddleware)  # outermost: 413s and 5xx are observed too
    app.add_middleware(TrackingEndpoints)  # outermost: pixels and clicks skip routing and API middleware
    return app
