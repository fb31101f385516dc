"""Sendhouse's MCP server (reference §12): AutoSend's MCP tools and prompts over the services the
HTTP API uses, over streamable HTTP at /mcp (a project or account API key as bearer token) and
over stdio (`sendhouse mcp --project NAME`).

Pause, resume and abort of a campaign are deliberately absent: they need a direct API call.

The SDK is imported only where MCP is served: `endpoint.mount_http` builds the server on the first
request; `server.build_server` and `server.run_stdio` are imported by who needs them.
"""

from sendhouse.mcp_tools.endpoint import mount_http

__all__ = ["mount_http"]
