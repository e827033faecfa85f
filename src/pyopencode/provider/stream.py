"""One entry point that streams a model turn through the SDK its provider speaks."""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import AsyncIterator
from typing import Any

from pyopencode.provider.events import (
    AuthError,
    Finish,
    ProviderError,
    ReasoningDelta,
    StreamDropped,
    StreamEvent,
    TextDelta,
    ToolCallEnd,
    ToolCallStart,
    Usage,
)
from pyopencode.provider.registry import ResolvedModel

__all__ = [
    "AuthError",
    "Finish",
    "ProviderError",
    "ReasoningDelta",
    "StreamDropped",
    "StreamEvent",
    "TextDelta",
    "ToolCallEnd",
    "ToolCallStart",
    "Usage",
    "stream",
]


async def stream(
    model: ResolvedModel,
    system: str,
    messages: list[dict[str, Any]],
    tools: list[dict[str, Any]],
) -> AsyncIterator[StreamEvent]:
    """Messages are neutral: user {content}, assistant {content, tool_calls}, tool {id, output}."""
    name = "anthropic" if model.api == "anthropic" else "openai"
    # The SDKs take seconds to import; a worker thread keeps the event loop serving meanwhile.
    module = await asyncio.to_thread(importlib.import_module, f"pyopencode.provider.{name}")
    async for event in module.stream(model, system, messages, tools):
        yield event


def status_error(status: int, message: str, headers: dict[str, str], body: str | None) -> Exception:
    """The error a non-2xx answer means: auth, retryable (429, 5xx), or final."""
    if status in (401, 403):
        return AuthError(message, status, False, headers, body)
    return ProviderError(message, status, status == 429 or status >= 500, headers, body)
