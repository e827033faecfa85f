"""`read`: a file's lines, numbered, from an offset."""

from __future__ import annotations

import itertools

from pyopencode.tool.base import (
    MAX_OUTPUT_BYTES,
    Json,
    Tool,
    ToolContext,
    ToolError,
    ToolResult,
    require,
    truncate,
)
from pyopencode.tool.blocking import off_loop
from pyopencode.tool.path import resolve

DEFAULT_LIMIT = 2000


class Read(Tool):
    name = "read"
    description = "Read a file from the project. Lines are numbered from 1."
    parameters: Json = {
        "type": "object",
        "properties": {
            "filePath": {"type": "string", "description": "Path of the file to read"},
            "offset": {
                "type": "integer",
                "minimum": 0,
                "description": "Line to start from (1-based)",
            },
            "limit": {"type": "integer", "minimum": 1, "description": "Number of lines to read"},
        },
        "required": ["filePath"],
    }

    async def run(self, args: Json, ctx: ToolContext) -> ToolResult:
        path = await resolve(ctx, require(args, "filePath"))
        await ctx.ask("read", [str(path)], {"filepath": str(path)})
        offset = max(int(args.get("offset") or 1), 1)
        limit = int(args.get("limit") or DEFAULT_LIMIT)

        def lines() -> list[str]:
            if not path.is_file():
                raise ToolError(f"File not found: {path}")
            chosen: list[str] = []
            size = 0
            with path.open(errors="replace") as f:
                # Streamed: a huge file costs only the lines asked for.
                for line in itertools.islice(f, offset - 1, offset - 1 + limit):
                    chosen.append(line.rstrip("\r\n"))
                    size += len(line)
                    if size > MAX_OUTPUT_BYTES:
                        break
            return chosen

        chosen = await off_loop(lines)
        body = "\n".join(f"{offset + i:05d}| {line}" for i, line in enumerate(chosen))
        output = truncate(f"<file>\n{body}\n</file>")
        return ToolResult(str(path), output, {"preview": "\n".join(chosen[:20])})
