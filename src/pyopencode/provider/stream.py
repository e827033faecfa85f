"""One entry point that streams a model turn through the SDK its provider speaks."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
from collections.abc import AsyncGenerator
from types import ModuleType
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


_imported: dict[str, ModuleType] = {}

NO_IMAGES = "ERROR: Cannot read {name} (this model does not support image input). Inform the user."


def without_images(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Images replaced by a note the model passes on, for models that take no images."""
    out = []
    for m in messages:
        if m.get("images"):
            notes = [NO_IMAGES.format(name=i.get("name") or "the image") for i in m["images"]]
            text = "\n".join([m["content"], *notes]) if m["content"] else "\n".join(notes)
            m = {k: v for k, v in m.items() if k != "images"} | {"content": text}
        out.append(m)
    return out


async def stream(
    model: ResolvedModel,
    system: str,
    messages: list[dict[str, Any]],
    tools: list[dict[str, Any]],
) -> AsyncGenerator[list[StreamEvent], None]:
    """The answer's events in one list per network read (what reached the server together).

    Messages are neutral: user {content}, assistant {content, tool_calls}, tool {id, output}."""
    if not model.images:
        messages = without_images(messages)
    name = f"pyopencode.provider.{'anthropic' if model.api == 'anthropic' else 'openai'}"
    # The SDKs take seconds to import; a worker thread keeps the event loop serving meanwhile.
    # Once imported, no thread hop per step. Not `sys.modules`: it holds a module from the
    # start of its import, and another session may still be importing it.
    module = _imported.get(name)
    if module is None:
        module = _imported[name] = await asyncio.to_thread(importlib.import_module, name)
    answer = module.stream(model, system, messages, tools)
    async with contextlib.aclosing(answer):
        async for events in answer:
            yield events


def status_error(status: int, message: str, headers: dict[str, str], body: str | None) -> Exception:
    """The error a non-2xx answer means: auth, retryable (429, 5xx), or final."""
    if status in (401, 403):
        return AuthError(message, status, False, headers, body)
    return ProviderError(message, status, status == 429 or status >= 500, headers, body)
