"""The bench's helper processes (the model server, the fan-out readers): each is `python -m
MODULE`, says one JSON message per line on stdout, and takes commands, or just the end of its
input, on stdin."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import orjson

Process = asyncio.subprocess.Process
# A fan-out reader's report holds a lag sample per read: megabytes against a server that
# writes each event on its own.
_LINE_LIMIT = 256 * 1024 * 1024


# --- the parent's side
async def spawn(module: str, *args: str, keep_stderr: bool = False) -> Process:
    """`python -m module args...` with pipes on stdin and stdout (and stderr, if kept)."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        module,
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE if keep_stderr else None,
        limit=_LINE_LIMIT,
    )


async def receive(proc: Process, timeout: float) -> dict[str, Any] | None:
    """The child's next message; None once it has closed its stdout (it exited)."""
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), timeout)
    if not line:
        return None
    message: dict[str, Any] = orjson.loads(line)
    return message


def send(proc: Process, command: str) -> None:
    assert proc.stdin is not None
    proc.stdin.write(command.encode() + b"\n")


async def stop(proc: Process, timeout: float) -> None:
    """End its input, which tells it to finish; killed if it has not exited by `timeout`."""
    if proc.stdin is not None and not proc.stdin.is_closing():
        proc.stdin.close()
    try:
        await asyncio.wait_for(proc.wait(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()


# --- the child's side
def say(message: dict[str, Any]) -> None:
    sys.stdout.buffer.write(orjson.dumps(message) + b"\n")
    sys.stdout.flush()


async def commands() -> asyncio.StreamReader:
    """Stdin, as lines to read; it ends when the parent closes it (or goes away)."""
    reader = asyncio.StreamReader()
    await asyncio.get_running_loop().connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), sys.stdin
    )
    return reader
