"""The event loop the bench's processes run on: uvloop where it is installed.

The driver, the model server and the fan-out readers are the measuring instrument; a loop
that costs less per read and write leaves more of the machine to the server being measured.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from importlib import metadata
from typing import Any

Runner = Callable[[Coroutine[Any, Any, Any]], Any]


def runner(no_uvloop: bool = False) -> tuple[str, Runner]:
    """(name of the loop, a function that runs a coroutine to completion on it)."""
    if not no_uvloop:
        try:
            import uvloop
        except ImportError:
            pass
        else:
            return f"uvloop {metadata.version('uvloop')}", uvloop.run
    return "asyncio", asyncio.run
