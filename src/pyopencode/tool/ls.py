"""`list`: the entries of a directory."""

from __future__ import annotations

from pyopencode.tool.base import Json, Tool, ToolContext, ToolError, ToolResult, truncate
from pyopencode.tool.path import resolve

MAX_ENTRIES = 1000


class List(Tool):
    name = "list"
    description = "List the files and directories in a directory of the project."
    parameters: Json = {
        "type": "object",
        "properties": {"path": {"type": "string", "description": "Directory (default: project)"}},
    }

    async def run(self, args: Json, ctx: ToolContext) -> ToolResult:
        path = await resolve(ctx, str(args.get("path") or "."))
        await ctx.ask("list", [str(path)], {"path": str(path)})
        if not path.is_dir():
            raise ToolError(f"Not a directory: {path}")
        entries = sorted((p.name + "/" if p.is_dir() else p.name) for p in path.iterdir())[
            :MAX_ENTRIES
        ]
        return ToolResult(str(path), truncate("\n".join(entries)), {"count": len(entries)})
