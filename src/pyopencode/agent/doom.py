"""Doom-loop detection: the same tool call with the same input three times in a row asks."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

Json = dict[str, Any]

THRESHOLD = 3


@dataclass
class DoomLoop:
    """One per prompt; counts across the prompt's steps, as each step is a new message."""

    recent: list[tuple[str, bytes]] = field(default_factory=list)

    async def check(
        self, name: str, args: Json, ask: Callable[[str, list[str], Json], Awaitable[None]]
    ) -> None:
        """Asks the `doom_loop` permission (ask by default) when the call repeats."""
        key = (name, orjson.dumps(args, option=orjson.OPT_SORT_KEYS))
        self.recent = [*self.recent[-(THRESHOLD - 1) :], key]
        if len(self.recent) == THRESHOLD and len(set(self.recent)) == 1:
            await ask("doom_loop", [name], {"tool": name, "input": args})
