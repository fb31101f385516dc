"""Building the MCPServer and serving it: mounted at /mcp in the FastAPI app (bearer key checked by
a token verifier over services/projects.authenticate, hosts limited to loopback and the public
URL's host), or over stdio acting as one project."""

from __future__ import annotations

from urllib.parse import urlsplit

from mcp.server.auth.provider import AccessToken, TokenVerifier
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings

from sendhouse import __version__
from sendhouse.bootstrap import Container, build_container
from sendhouse.config import Settings
from sendhouse.errors import AppError
from sendhouse.mcp_tools import automations, campaigns, catalog, prompts
from sendhouse.mcp_tools.base import ToolEnv
from sendhouse.services import projects as project_service
from sendhouse.services.projects import Principal

PATH = "/mcp"
INSTRUCTIONS = (
    "Sendhouse: email campaigns and transactional email (AutoSend-compatible). Campaigns created here are "
    "drafts. send_campaign and send_test_email first answer a preview and a confirmationToken; call them "
    "again with confirmed=true and that token only after the user agreed. Pausing, resuming or aborting a campaign is not possible through MCP."
)


def build_server(
    container: Container, *, principal: Principal | None = None, http: bool = False
) -> MCPServer:
    """The MCP server with every tool and prompt. `principal`: who every call acts as (stdio, tests);
    `http`: callers authenticate with a bearer key checked on each request."""
    verifier = KeyVerifier(container) if http else None
    auth = AuthSettings(issuer_url=container.settings.public_url, resource_server_url=None) if http else None
    server = MCPServer(
        "sendhouse",
        version=__version__,
        instructions=INSTRUCTIONS,
        log_level="WARNING",
        token_verifier=verifier,
        auth=auth,
    )
    env = ToolEnv(container, principal)
    catalog.register(server, env)
    campaigns.register(server, env)
    automations.register(server, env)
    prompts.register(server)
    return server


class KeyVerifier(TokenVerifier):
    """A bearer token is a Sendhouse API key (AS_… or ASA_…); anything else is refused with 401."""

    def __init__(self, container: Container):
        self.container = container

    async def verify_token(self, token: str) -> AccessToken | None:
        try:
            principal = await project_service.authenticate(
                self.container.db, secret=token, project_header=None
            )
        except AppError:
            return None
        return AccessToken(token=token, client_id=principal.api_key_id, scopes=[])


def transport_security(settings: Settings) -> TransportSecuritySettings:
    """Loopback on any port and the public URL's host (DNS-rebinding protection)."""
    public = urlsplit(settings.public_url)
    hosts = ["127.0.0.1:*", "localhost:*", "[::1]:*", "127.0.0.1", "localhost"]
    hosts += [h for h in (public.netloc, public.hostname, f"{public.hostname}:*") if h]
    origins = [f"{scheme}://{h}" for scheme in ("http", "https") for h in hosts]
    return TransportSecuritySettings(allowed_hosts=hosts, allowed_origins=origins)


async def run_stdio(settings: Settings, project: str) -> None:
    """Serve MCP over stdin/stdout acting as `project` (name or id) until the client goes away."""
    container = build_container(settings)
    try:
        row = await project_service.resolve_project(container.db, project)
        principal = Principal("stdio", "project", row["organization_id"], row["id"])
        await build_server(container, principal=principal).run_stdio_async()
    finally:
        await container.close()
