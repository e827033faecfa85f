"""`read`: a file's lines, numbered, from an offset."""

from __future__ import annotations

from pyopencode.tool.base import Json, Tool, ToolContext, ToolError, ToolResult, require, truncate
from pyopencode.tool.path import resolve

DEFAULT_LIMIT = 2000


class Read(Tool):
    name = "read"
    description = "Read a file from the project. Lines are numbered from 1."
    parameters: Json = {
        "type": "object",
        "properties": {
            "filePath": {"type": "string", "description": "Path of the file to read"},
            "offset": {"type": "integer", "description": "Line to start from (1-based)"},
            "limit": {"type": "integer", "description": "Number of lines to read"},
        },
        "required": ["filePath"],
    }

    async def run(self, args: Json, ctx: ToolContext) -> ToolResult:
        path = await resolve(ctx, require(args, "filePath"))
        await ctx.ask("read", [str(path)], {"filepath": str(path)})
        if not path.is_file():
            raise ToolError(f"File not found: {path}")
        offset = max(int(args.get("offset") or 1), 1)
        limit = int(args.get("limit") or DEFAULT_LIMIT)
        with path.open(errors="replace") as f:
            lines = f.read().splitlines()
        chosen = lines[offset - 1 : offset - 1 + limit]
        body = "\n".join(f"{offset + i:05d}| {line}" for i, line in enumerate(chosen))
        output = truncate(f"<file>\n{body}\n</file>")
        return ToolResult(str(path), output, {"preview": "\n".join(chosen[:20])})
