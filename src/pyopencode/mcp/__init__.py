"""MCP servers (local stdio, remote streamable HTTP or SSE) and their tools, on the `mcp` SDK."""

from __future__ import annotations

from pyopencode.mcp.servers import OAuthUnavailable, Registry, ServerNotFound, Servers
from pyopencode.mcp.tool import McpTool, tool_id, tools_of
from pyopencode.tool.base import Tool

# One per process: each server process holds its own MCP connections (see docs/mcp.md).
_registry = Registry()


def registry() -> Registry:
    return _registry


async def tools(directory: str) -> list[Tool]:
    """The connected MCP servers' tools for an instance, once its servers have started."""
    servers = _registry.servers(directory)
    await servers.ready()
    return tools_of(servers.live())


__all__ = [
    "McpTool",
    "OAuthUnavailable",
    "Registry",
    "ServerNotFound",
    "Servers",
    "registry",
    "tool_id",
    "tools",
]
