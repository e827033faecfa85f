"""MCP tools as agent tools: named `{server}_{tool}`, asked for like any tool, results as parts."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from pyopencode import ids
from pyopencode.tool.base import Tool, ToolContext, ToolError, ToolResult, truncate

if TYPE_CHECKING:
    from mcp import types

    from pyopencode.mcp.client import Connection

Json = dict[str, Any]

_UNSAFE = re.compile(r"[^a-zA-Z0-9_-]")


def sanitize(name: str) -> str:
    """As upstream: anything but letters, digits, `_` and `-` becomes `_`."""
    return _UNSAFE.sub("_", name)


def tool_id(server: str, tool: str) -> str:
    return f"{sanitize(server)}_{sanitize(tool)}"


def _schema(tool: types.Tool) -> Json:
    schema = dict(tool.input_schema or {})
    schema["type"] = "object"
    schema.setdefault("properties", {})
    return schema


class McpTool(Tool):
    def __init__(self, connection: Connection, tool: types.Tool) -> None:
        self.connection = connection
        self.remote_name = tool.name
        self.name = tool_id(connection.name, tool.name)
        self.description = tool.description or ""
        self.parameters = _schema(tool)

    async def run(self, args: Json, ctx: ToolContext) -> ToolResult:
        from mcp import types

        # Upstream asks under the tool's own id, for any input.
        await ctx.ask(self.name, ["*"], {})
        try:
            result = await self.connection.call(self.remote_name, args)
        except ConnectionError as exc:
            raise ToolError(str(exc)) from exc
        texts: list[str] = []
        attachments: list[Json] = []
        for block in result.content:
            if isinstance(block, types.TextContent):
                texts.append(block.text)
            elif isinstance(block, types.ImageContent | types.AudioContent):
                attachments.append(_file(ctx, block.mime_type, block.data))
            elif isinstance(block, types.EmbeddedResource):
                res = block.resource
                if isinstance(res, types.TextResourceContents):
                    texts.append(res.text)
                else:
                    mime = res.mime_type or "application/octet-stream"
                    attachments.append(_file(ctx, mime, res.blob, str(res.uri)))
            elif isinstance(block, types.ResourceLink):
                texts.append(f"[resource: {block.uri}]")
        output = truncate("\n\n".join(texts))
        if result.is_error:
            raise ToolError(output or f"MCP tool {self.remote_name} failed")
        return ToolResult(title="", output=output, metadata={}, attachments=attachments)


def _file(ctx: ToolContext, mime: str, data: str, filename: str | None = None) -> Json:
    """A FilePart holding the content as a data URL, as upstream stores tool attachments."""
    part: Json = {
        "id": ids.ascending("prt"),
        "sessionID": ctx.session_id,
        "messageID": ctx.message_id,
        "type": "file",
        "mime": mime,
        "url": f"data:{mime};base64,{data}",
    }
    if filename:
        part["filename"] = filename
    return part


def tools_of(connections: list[Connection]) -> list[Tool]:
    return [McpTool(conn, t) for conn in connections for t in conn.tools]
