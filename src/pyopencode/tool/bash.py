"""`bash`: a shell command in the project directory, with a timeout and an output cap."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal

from pyopencode import process
from pyopencode.tool.base import (
    MAX_OUTPUT_BYTES,
    Json,
    Tool,
    ToolContext,
    ToolResult,
    require,
    truncate,
)
from pyopencode.tool.path import resolve

DEFAULT_TIMEOUT_MS = 120_000
MAX_TIMEOUT_MS = 600_000


class Bash(Tool):
    name = "bash"
    description = "Run a shell command in the project directory. `timeout` is in milliseconds."
    parameters: Json = {
        "type": "object",
        "properties": {
            "command": {"type": "string"},
            "timeout": {
                "type": "integer",
                "minimum": 1,
                "maximum": MAX_TIMEOUT_MS,
                "description": "Milliseconds, at most 600000",
            },
            "workdir": {"type": "string", "description": "Directory to run in (default: project)"},
            "description": {"type": "string", "description": "What the command does"},
        },
        "required": ["command"],
    }

    async def run(self, args: Json, ctx: ToolContext) -> ToolResult:
        command = require(args, "command")
        workdir = await resolve(ctx, str(args.get("workdir") or "."))
        await ctx.ask("bash", [command], {"command": command})
        timeout_ms = min(int(args.get("timeout") or DEFAULT_TIMEOUT_MS), MAX_TIMEOUT_MS)
        proc = await process.start_shell(
            command,
            cwd=workdir,
            stderr=process.STDOUT,
            start_new_session=True,  # its own process group, so a kill reaches its children
        )
        assert proc.stdout is not None
        chunks: list[bytes] = []
        size = 0
        timed_out = False

        async def collect() -> None:
            nonlocal size
            assert proc.stdout is not None
            while chunk := await proc.stdout.read(65536):
                # Keep reading (so the command never blocks on a full pipe) but keep only the cap.
                if size < MAX_OUTPUT_BYTES + 1:
                    chunks.append(chunk)
                size += len(chunk)
            await proc.wait()

        try:
            await asyncio.wait_for(collect(), timeout_ms / 1000)
        except TimeoutError:
            timed_out = True
            _kill(proc.pid)
            await proc.wait()
        except BaseException:
            _kill(proc.pid)
            raise
        output = truncate(b"".join(chunks).decode(errors="replace"))
        if size > MAX_OUTPUT_BYTES:
            output += f"\n(total output was {size} bytes)"
        if timed_out:
            output += f"\n\nCommand timed out after {timeout_ms} ms and was killed."
        meta = {"exit": proc.returncode, "description": args.get("description") or command}
        return ToolResult(command, output, {**meta, "output": output[:4000]})


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
