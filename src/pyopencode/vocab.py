"""The small vocabulary every layer shares: the JSON type, the clock, and a session's place."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

Json = dict[str, Any]


def now_ms() -> int:
    """Wall-clock milliseconds, the unit of every `time` field in the API."""
    return int(time.time() * 1000)


@dataclass(frozen=True, slots=True)
class Place:
    """Where a session lives: its directory and project, which every event about it carries."""

    directory: str
    project: str

    @classmethod
    def of(cls, info: Json) -> Place:
        return cls(info["directory"], info["projectID"])
