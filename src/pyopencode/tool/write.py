"""`write`: create or overwrite a file."""

from __future__ import annotations

from pyopencode.tool.base import Json, Tool, ToolContext, ToolResult, require
from pyopencode.tool.blocking import off_loop
from pyopencode.tool.path import resolve


class Write(Tool):
    name = "write"
    description = "Write a file in the project, creating parent directories as needed."
    parameters: Json = {
        "type": "object",
        "properties": {
            "filePath": {"type": "string", "description": "Path of the file to write"},
            "content": {"type": "string", "description": "The full new content"},
        },
        "required": ["filePath", "content"],
    }

    async def run(self, args: Json, ctx: ToolContext) -> ToolResult:
        path = await resolve(ctx, require(args, "filePath"))
        content = require(args, "content")
        existed = path.exists()
        await ctx.ask("edit", [str(path)], {"filepath": str(path)})

        def write() -> None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content)

        await off_loop(write)
        return ToolResult(
            str(path),
            "Wrote file successfully.",
            {"filepath": str(path), "exists": existed},
            edited=(str(path),),
        )
