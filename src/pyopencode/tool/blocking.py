"""File work for tools, run in a thread with a time limit so the event loop never waits on it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

from pyopencode.tool.base import ToolError

T = TypeVar("T")

# A hung or very slow disk fails the tool call instead of holding the agent forever.
FILE_TIMEOUT_SECONDS = 30.0


async def off_loop(fn: Callable[[], T], timeout: float = FILE_TIMEOUT_SECONDS) -> T:
    """`fn()` in a worker thread. A timeout or an abort stops waiting for it at once; the
    thread itself finishes its (bounded) file operation in the background."""
    try:
        return await asyncio.wait_for(asyncio.to_thread(fn), timeout)
    except TimeoutError:
        raise ToolError(f"File operation took longer than {timeout:g} seconds") from None
