"""`grep`: lines matching a regular expression in the project's files, found by ripgrep."""

from __future__ import annotations

import os
from pathlib import Path

from pyopencode.tool import ripgrep
from pyopencode.tool.base import Json, Tool, ToolContext, ToolError, ToolResult, require, truncate
from pyopencode.tool.path import is_inside, resolve, resolve_glob

MAX_MATCHES = 500
# Longer lines are shown as omitted rather than flooding the output.
MAX_COLUMNS = 2000


class Grep(Tool):
    name = "grep"
    description = "Search file contents with a regular expression; `include` filters file names."
    parameters: Json = {
        "type": "object",
        "properties": {
            "pattern": {"type": "string", "minLength": 1},
            "path": {"type": "string"},
            "include": {"type": "string", "description": "Glob of files to search, e.g. *.py"},
        },
        "required": ["pattern"],
    }

    async def run(self, args: Json, ctx: ToolContext) -> ToolResult:
        pattern = require(args, "pattern")
        root = await resolve(ctx, str(args.get("path") or "."))
        base, include = root, None
        if args.get("include"):
            base, include = await resolve_glob(ctx, root, str(args["include"]))
        await ctx.ask("grep", [pattern], {"pattern": pattern, "path": str(base)})
        if not base.is_dir():
            raise ToolError(f"Not a directory: {base}")
        # ripgrep's regex engine runs in linear time (no backtracking), in a killable process;
        # it follows no symlinks, so the walk stays inside the confined base.
        argv = ["-nH", "--null", "--no-heading", "--color=never", f"--max-columns={MAX_COLUMNS}"]
        argv += ["--field-match-separator=:", "-e", pattern]
        if include is not None:
            argv += ["--glob", include]
        result = await ripgrep.run([*argv, "--", "."], base, MAX_MATCHES)
        if result.returncode == 2 and not result.lines:
            raise ToolError(f"grep failed: {result.stderr or 'invalid pattern'}")
        matches = []
        for line in result.lines:
            # --null ends the file name with NUL, so names with colons parse too.
            rel, sep, rest = line.partition("\0")
            number, sep2, text = rest.partition(":")
            if not (sep and sep2):
                continue
            path = Path(os.path.normpath(base / rel))
            if not is_inside(Path(os.path.realpath(path)), base):
                continue
            matches.append(f"{path}:{number}: {text}")
        output = "\n".join(matches) if matches else "No matches found"
        if result.truncated:
            output += f"\n\n(results truncated at {len(matches)} matches)"
        return ToolResult(pattern, truncate(output), {"matches": len(matches)})
