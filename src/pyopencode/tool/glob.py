"""`glob`: files matching a pattern under a directory."""

from __future__ import annotations

import asyncio

from pyopencode.tool.base import Json, Tool, ToolContext, ToolResult, require, truncate
from pyopencode.tool.path import resolve

MAX_MATCHES = 1000


class Glob(Tool):
    name = "glob"
    description = "Find files by glob pattern, e.g. **/*.py."
    parameters: Json = {
        "type": "object",
        "properties": {"pattern": {"type": "string"}, "path": {"type": "string"}},
        "required": ["pattern"],
    }

    async def run(self, args: Json, ctx: ToolContext) -> ToolResult:
        pattern = require(args, "pattern")
        root = await resolve(ctx, str(args.get("path") or "."))
        await ctx.ask("glob", [pattern], {"pattern": pattern, "path": str(root)})

        def find() -> list[str]:
            out = []
            for p in root.glob(pattern):
                if p.is_file():
                    out.append(str(p))
                    if len(out) >= MAX_MATCHES:
                        break
            return sorted(out)

        matches = await asyncio.to_thread(find)
        output = "\n".join(matches) if matches else "No files found"
        return ToolResult(pattern, truncate(output), {"count": len(matches)})
