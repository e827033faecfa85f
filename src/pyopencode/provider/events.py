"""What a provider stream yields, and the errors it raises, independent of any SDK."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson


@dataclass(frozen=True, slots=True)
class Usage:
    input: int = 0
    output: int = 0
    reasoning: int = 0
    cache_read: int = 0
    cache_write: int = 0


@dataclass(frozen=True, slots=True)
class TextDelta:
    text: str


@dataclass(frozen=True, slots=True)
class ReasoningDelta:
    text: str


@dataclass(frozen=True, slots=True)
class ToolCallStart:
    id: str
    name: str


@dataclass(frozen=True, slots=True)
class ToolCallEnd:
    id: str
    name: str
    raw: str
    input: dict[str, Any]

    @classmethod
    def of(cls, id: str, name: str, args: str) -> ToolCallEnd:
        """The call whose streamed arguments were `args`: input {} when they are not a JSON
        object (the tool then reports the missing fields)."""
        raw = args or "{}"
        try:
            parsed = orjson.loads(raw)
        except orjson.JSONDecodeError:
            parsed = {}
        return cls(id, name, raw, parsed if isinstance(parsed, dict) else {})


@dataclass(frozen=True, slots=True)
class Finish:
    # OpenCode's finish reasons: stop, length, tool-calls, content-filter, other.
    reason: str
    usage: Usage


StreamEvent = TextDelta | ReasoningDelta | ToolCallStart | ToolCallEnd | Finish


@dataclass
class ProviderError(Exception):
    message: str
    status: int | None = None
    retryable: bool = False
    headers: dict[str, str] = field(default_factory=dict)
    body: str | None = None

    def __str__(self) -> str:
        return self.message


class AuthError(ProviderError):
    """The provider refused the credentials (401/403)."""


class StreamDropped(ProviderError):
    """The stream ended before the model said it was finished."""
