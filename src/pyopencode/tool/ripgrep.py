"""ripgrep as a subprocess: linear-time search that a time limit or an abort can kill."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import sys
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from pathlib import Path

from pyopencode import process
from pyopencode.tool.base import ToolError

# A search that takes longer than this is killed and reported as timed out.
SEARCH_TIMEOUT_SECONDS = 60.0
# Output read from one search before it is stopped; callers cap what they keep far lower.
MAX_READ_BYTES = 4 * 1024 * 1024


@cache
def binary() -> str:
    """The `rg` shipped by the `ripgrep` package, else one on PATH."""
    with contextlib.suppress(metadata.PackageNotFoundError):
        for file in metadata.distribution("ripgrep").files or ():
            if file.name in ("rg", "rg.exe"):
                path = Path(str(file.locate())).resolve()
                if path.is_file() and os.access(path, os.X_OK):
                    return str(path)
    beside = Path(sys.executable).with_name("rg")
    if beside.is_file():
        return str(beside)
    found = shutil.which("rg")
    if found is None:
        raise ToolError("ripgrep (rg) is not installed: install the `ripgrep` package")
    return found


@dataclass(frozen=True, slots=True)
class Result:
    lines: list[str]
    # The search stopped early: enough lines, or too much output.
    truncated: bool
    returncode: int | None
    stderr: str


async def run(
    args: list[str], cwd: Path, max_lines: int, timeout: float = SEARCH_TIMEOUT_SECONDS
) -> Result:
    """Run `rg args` in `cwd` and collect up to `max_lines` lines of its output."""
    proc = await process.start(
        binary(),
        "--no-config",
        *args,
        cwd=cwd,
        start_new_session=True,
        limit=1024 * 1024,
    )
    assert proc.stdout is not None and proc.stderr is not None
    lines: list[str] = []
    truncated = False
    read = 0

    async def collect() -> bytes:
        nonlocal truncated, read
        assert proc.stdout is not None and proc.stderr is not None
        errors = asyncio.ensure_future(proc.stderr.read(65536))
        try:
            while raw := await proc.stdout.readline():
                read += len(raw)
                lines.append(raw.decode(errors="replace").rstrip("\n"))
                if len(lines) >= max_lines or read >= MAX_READ_BYTES:
                    truncated = True
                    _kill(proc.pid)
                    break
            await proc.wait()
            return await errors
        finally:
            errors.cancel()

    try:
        stderr = await asyncio.wait_for(collect(), timeout)
    except TimeoutError:
        _kill(proc.pid)
        await proc.wait()
        raise ToolError(
            f"The search took longer than {timeout:g} seconds and was stopped"
        ) from None
    except BaseException:
        # Cancelled (an abort) or failed: the search must not outlive the tool call.
        _kill(proc.pid)
        with contextlib.suppress(ProcessLookupError):
            await asyncio.shield(proc.wait())
        raise
    return Result(lines, truncated, proc.returncode, stderr.decode(errors="replace").strip())


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
