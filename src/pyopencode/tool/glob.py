"""`glob`: files matching a pattern under a directory, listed by ripgrep."""

from __future__ import annotations

import os
from pathlib import Path

from pyopencode.tool import ripgrep
from pyopencode.tool.base import Json, Tool, ToolContext, ToolError, ToolResult, require, truncate
from pyopencode.tool.path import is_inside, resolve, resolve_glob

MAX_MATCHES = 1000


class Glob(Tool):
    name = "glob"
    description = "Find files by glob pattern, e.g. **/*.py."
    parameters: Json = {
        "type": "object",
        "properties": {
            "pattern": {"type": "string", "minLength": 1},
            "path": {"type": "string"},
        },
        "required": ["pattern"],
    }

    async def run(self, args: Json, ctx: ToolContext) -> ToolResult:
        pattern = require(args, "pattern")
        root = await resolve(ctx, str(args.get("path") or "."))
        base, relative = await resolve_glob(ctx, root, pattern)
        await ctx.ask("glob", [pattern], {"pattern": pattern, "path": str(base)})
        if not base.is_dir():
            return ToolResult(pattern, "No files found", {"count": 0})
        argv = ["--files", "--hidden", "--color=never", "--glob", relative, "--glob", "!.git/"]
        result = await ripgrep.run([*argv, "--", "."], base, MAX_MATCHES)
        if result.returncode == 2 and not result.lines:
            raise ToolError(f"glob failed: {result.stderr or 'invalid pattern'}")
        matches = []
        for line in result.lines:
            path = Path(os.path.normpath(base / line))
            # ripgrep follows no symlinks; this holds even if that ever changes.
            if is_inside(Path(os.path.realpath(path)), base):
                matches.append(str(path))
        matches.sort()
        output = "\n".join(matches) if matches else "No files found"
        if result.truncated:
            output += f"\n\n(results truncated at {len(matches)} files)"
        return ToolResult(pattern, truncate(output), {"count": len(matches)})
