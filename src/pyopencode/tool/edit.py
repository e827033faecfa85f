"""`edit`: replace an exact string in a file."""

from __future__ import annotations

from pyopencode.tool.base import Json, Tool, ToolContext, ToolError, ToolResult, require
from pyopencode.tool.blocking import off_loop
from pyopencode.tool.path import resolve


class Edit(Tool):
    name = "edit"
    description = (
        "Replace oldString with newString in a file (exactly one match unless replaceAll)."
    )
    parameters: Json = {
        "type": "object",
        "properties": {
            "filePath": {"type": "string"},
            "oldString": {"type": "string"},
            "newString": {"type": "string"},
            "replaceAll": {"type": "boolean"},
        },
        "required": ["filePath", "oldString", "newString"],
    }

    async def run(self, args: Json, ctx: ToolContext) -> ToolResult:
        path = await resolve(ctx, require(args, "filePath"))
        old, new = require(args, "oldString"), require(args, "newString")
        await ctx.ask("edit", [str(path)], {"filepath": str(path)})
        replace_all = bool(args.get("replaceAll"))

        def edit() -> None:
            if not path.is_file():
                raise ToolError(f"File not found: {path}")
            text = path.read_text()
            count = text.count(old) if old else 0
            if count == 0:
                raise ToolError("oldString not found in the file")
            if count > 1 and not replace_all:
                raise ToolError(f"oldString matches {count} times; give more context or replaceAll")
            path.write_text(text.replace(old, new) if replace_all else text.replace(old, new, 1))

        await off_loop(edit)
        return ToolResult(
            str(path), "Edit applied successfully.", {"filepath": str(path)}, edited=(str(path),)
        )
