"""MCP servers (local stdio, remote streamable HTTP or SSE) and their tools, on the `mcp` SDK."""

from __future__ import annotations

from collections.abc import Iterable
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING

from pyopencode.mcp.servers import OAuthUnavailable, Registry, ServerNotFound, Servers
from pyopencode.mcp.tool import McpTool, tool_id, tools_of
from pyopencode.tool.base import Tool

if TYPE_CHECKING:
    from pyopencode.agent.agents import AgentInfo

# One per process: each server process holds its own MCP connections (see docs/mcp.md).
_registry = Registry()


def registry() -> Registry:
    return _registry


async def tools(directory: str) -> list[Tool]:
    """The connected MCP servers' tools for an instance, once its servers have started."""
    servers = _registry.servers(directory)
    await servers.ready()
    return tools_of(servers.live())


async def tools_for(agent: AgentInfo, directory: str, disabled: Iterable[str] = ()) -> list[Tool]:
    """The MCP tools an agent is offered: not hidden by `tools` (patterns too, as upstream
    allows `"github_*": false`) nor denied outright by its permissions."""
    from pyopencode.tool import registry as builtin

    off = set(disabled) | {k for k, v in agent.tools.items() if v is False}
    return [
        t
        for t in await tools(directory)
        if t.name not in builtin.ALL
        and not any(fnmatchcase(t.name, p) for p in off)
        and not builtin.denied(agent, t.name)
    ]


__all__ = [
    "McpTool",
    "OAuthUnavailable",
    "Registry",
    "ServerNotFound",
    "Servers",
    "registry",
    "tool_id",
    "tools",
    "tools_for",
]
