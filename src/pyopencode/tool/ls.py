"""`list`: the entries of a directory."""

from __future__ import annotations

from pyopencode.tool.base import Json, Tool, ToolContext, ToolError, ToolResult, truncate
from pyopencode.tool.blocking import off_loop
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

        def entries() -> list[str]:
            if not path.is_dir():
                raise ToolError(f"Not a directory: {path}")
            names = sorted((p.name + "/" if p.is_dir() else p.name) for p in path.iterdir())
            return names[:MAX_ENTRIES]

        listed = await off_loop(entries)
        return ToolResult(str(path), truncate("\n".join(listed)), {"count": len(listed)})
