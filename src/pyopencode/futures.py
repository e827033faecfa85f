"""What every layer does with a future whose outcome nobody may await."""

from __future__ import annotations

import asyncio
from typing import Any


def retrieve(future: asyncio.Future[Any]) -> None:
    """A done callback: marks the future's exception as seen, so asyncio does not log it as
    never retrieved when its callers went away (their failure is theirs to report)."""
    if not future.cancelled():
        future.exception()
