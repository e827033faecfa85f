"""Async subprocess runner for git and ripgrep: bounded in time and output, never blocking."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pyopencode import process

if TYPE_CHECKING:  # the spawner runs commands with `run` below
    from pyopencode.spawner import Spawner

# Generous for big repositories, yet a hung process cannot hold a request forever.
DEFAULT_TIMEOUT = 30.0
# Beyond this the output is cut and `truncated` set: a command cannot exhaust memory.
DEFAULT_MAX_OUTPUT = 64 * 1024 * 1024

# git must not prompt, page, or read the user's global hooks-affecting config for our calls.
_GIT_ENV = {
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_PAGER": "cat",
    "GIT_OPTIONAL_LOCKS": "0",
    "LC_ALL": "C",
}


class CommandTimeout(Exception):
    """The command ran past its time limit and was killed."""


@dataclass(frozen=True, slots=True)
class Result:
    code: int
    stdout: bytes
    stderr: bytes
    truncated: bool = False

    @property
    def ok(self) -> bool:
        return self.code == 0

    def text(self) -> str:
        return self.stdout.decode("utf-8", errors="replace")


async def run(
    argv: Sequence[str],
    *,
    cwd: str | None = None,
    env: Mapping[str, str] | None = None,
    stdin: bytes | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    max_output: int = DEFAULT_MAX_OUTPUT,
    nice: int = 0,
) -> Result:
    """Run `argv`; output past `max_output` is cut off, the process killed, `truncated` set."""
    full_env = {**os.environ, **(env or {})}
    try:
        proc = await process.start(
            *argv,
            cwd=cwd,
            env=full_env,
            input=stdin,
            nice=nice,
        )
    except OSError as exc:
        return Result(127, b"", str(exc).encode())
    assert proc.stdout is not None and proc.stderr is not None

    async def collect() -> tuple[bytes, bool]:
        assert proc.stdout is not None
        chunks: list[bytes] = []
        size = 0
        while True:
            chunk = await proc.stdout.read(65536)
            if not chunk:
                return b"".join(chunks), False
            chunks.append(chunk)
            size += len(chunk)
            if size > max_output:
                stop()
                return b"".join(chunks)[:max_output], True

    def stop() -> None:
        # Killed at once, so its stderr closes too and nothing waits on a pipe it fills.
        with contextlib.suppress(ProcessLookupError):
            proc.kill()

    async def errors() -> bytes:
        assert proc.stderr is not None
        kept = b""
        while chunk := await proc.stderr.read(65536):
            if len(kept) < 65536:
                kept += chunk
        return kept[:65536]

    try:
        async with asyncio.timeout(timeout):
            (out, truncated), err = await asyncio.gather(collect(), errors())
            code = await proc.wait()
    except TimeoutError as exc:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        raise CommandTimeout(f"{argv[0]} took longer than {timeout:g}s") from exc
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        raise
    return Result(0 if truncated else code, out, err, truncated)


async def git(
    *args: str,
    cwd: str,
    env: Mapping[str, str] | None = None,
    stdin: bytes | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    nice: int = 0,
    runner: Spawner | None = None,
) -> Result:
    """`git -c core.quotepath=off ARGS` in `cwd`, spawned here or by the helper `runner`."""
    argv = ["git", "-c", "core.quotepath=off", "-c", "core.autocrlf=false", *args]
    env = {**_GIT_ENV, **(env or {})}
    if runner is not None:
        return await runner.run(argv, cwd=cwd, env=env, stdin=stdin, timeout=timeout)
    return await run(argv, cwd=cwd, env=env, stdin=stdin, timeout=timeout, nice=nice)
