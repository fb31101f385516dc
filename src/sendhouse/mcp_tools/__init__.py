"""Sendhouse's MCP server (reference §12): AutoSend's MCP tools and prompts over the services the
HTTP API uses, over streamable HTTP at /mcp (a project or account API key as bearer token) and
over stdio (`sendhouse mcp --project NAME`).

Pause, resume and abort of a campaign are deliberately absent: they need a direct API call.
"""

from sendhouse.mcp_tools.server import build_server, mount_http, run_stdio

__all__ = ["build_server", "mount_http", "run_stdio"]
