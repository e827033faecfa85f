"""`grep`: lines matching a regular expression in the project's files."""

from __future__ import annotations

import asyncio
import re

from pyopencode.tool.base import Json, Tool, ToolContext, ToolError, ToolResult, require, truncate
from pyopencode.tool.path import resolve

MAX_MATCHES = 500


class Grep(Tool):
    name = "grep"
    description = "Search file contents with a regular expression; `include` filters file names."
    parameters: Json = {
        "type": "object",
        "properties": {
            "pattern": {"type": "string"},
            "path": {"type": "string"},
            "include": {"type": "string", "description": "Glob of files to search, e.g. *.py"},
        },
        "required": ["pattern"],
    }

    async def run(self, args: Json, ctx: ToolContext) -> ToolResult:
        pattern = require(args, "pattern")
        try:
            regex = re.compile(pattern)
        except re.error as exc:
            raise ToolError(f"Invalid regular expression: {exc}") from exc
        root = await resolve(ctx, str(args.get("path") or "."))
        await ctx.ask("grep", [pattern], {"pattern": pattern, "path": str(root)})
        include = str(args.get("include") or "*")

        def search() -> list[str]:
            out: list[str] = []
            for p in sorted(root.rglob(include)):
                if not p.is_file() or any(
                    part.startswith(".") for part in p.relative_to(root).parts
                ):
                    continue
                try:
                    lines = p.read_text(errors="strict").splitlines()
                except (UnicodeDecodeError, OSError):
                    continue
                for number, line in enumerate(lines, 1):
                    if regex.search(line):
                        out.append(f"{p}:{number}: {line}")
                        if len(out) >= MAX_MATCHES:
                            return out
            return out

        matches = await asyncio.to_thread(search)
        output = "\n".join(matches) if matches else "No matches found"
        return ToolResult(pattern, truncate(output), {"matches": len(matches)})
