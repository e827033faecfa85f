"""Anthropic's messages API through the anthropic SDK."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

import anthropic
import httpx2
import orjson

from pyopencode.provider.clients import client_for
from pyopencode.provider.events import (
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
from pyopencode.provider.registry import ResolvedModel, request_options
from pyopencode.provider.sse import translated
from pyopencode.provider.stream import status_error

_REQUEST_OPTIONS = frozenset(
    {"temperature", "top_p", "top_k", "max_tokens", "thinking", "stop_sequences", "tool_choice"}
)
_FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool-calls",
    "refusal": "content-filter",
}


def _messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []

    def add(role: str, block: dict[str, Any]) -> None:
        # Anthropic wants alternating roles; tool results travel in a user turn.
        if out and out[-1]["role"] == role:
            out[-1]["content"].append(block)
        else:
            out.append({"role": role, "content": [block]})

    for m in messages:
        if m["role"] == "user":
            add("user", {"type": "text", "text": m["content"] or "(empty)"})
            for image in m.get("images") or []:
                source = {"type": "base64", "media_type": image["mime"], "data": image["data"]}
                add("user", {"type": "image", "source": source})
        elif m["role"] == "assistant":
            if m.get("content"):
                add("assistant", {"type": "text", "text": m["content"]})
            for c in m.get("tool_calls") or []:
                add(
                    "assistant",
                    {"type": "tool_use", "id": c["id"], "name": c["name"], "input": c["input"]},
                )
        else:
            block = {"type": "tool_result", "tool_use_id": m["id"], "content": m["output"]}
            if m.get("error"):
                block["is_error"] = True
            add("user", block)
    return out


class _Answer:
    """What the messages stream has said so far: open tool calls, token counts, the end."""

    def __init__(self) -> None:
        self.blocks: dict[int, dict[str, str]] = {}
        self.finish: str | None = None
        self.stopped = False
        self.tokens: dict[str, int] = {}

    def read(self, event: dict[str, Any], out: list[StreamEvent]) -> None:
        """Takes one server-sent event in, appending what it means for the turn to `out`."""
        kind = event.get("type")
        if kind == "message_start":
            u = (event.get("message") or {}).get("usage") or {}
            self.tokens["input"] = int(u.get("input_tokens") or 0)
            self.tokens["cache_read"] = int(u.get("cache_read_input_tokens") or 0)
            self.tokens["cache_write"] = int(u.get("cache_creation_input_tokens") or 0)
            self.tokens["output"] = int(u.get("output_tokens") or 0)
        elif kind == "content_block_start":
            block = event.get("content_block") or {}
            if block.get("type") == "tool_use":
                index = event.get("index", 0)
                started = self.blocks[index] = {
                    "id": str(block.get("id") or f"toolu_{index}"),
                    "name": str(block.get("name") or ""),
                    "args": "",
                }
                out.append(ToolCallStart(started["id"], started["name"]))
        elif kind == "content_block_delta":
            delta = event.get("delta") or {}
            step = delta.get("type")
            if step == "text_delta" and delta.get("text"):
                out.append(TextDelta(delta["text"]))
            elif step == "thinking_delta" and delta.get("thinking"):
                out.append(ReasoningDelta(delta["thinking"]))
            elif step == "input_json_delta":
                growing = self.blocks.get(event.get("index", 0))
                if growing is not None:
                    growing["args"] += delta.get("partial_json") or ""
        elif kind == "content_block_stop":
            call = self.blocks.pop(event.get("index", 0), None)
            if call is not None:
                out.append(ToolCallEnd.of(call["id"], call["name"], call["args"]))
        elif kind == "message_delta":
            reason = (event.get("delta") or {}).get("stop_reason")
            if reason:
                self.finish = _FINISH.get(reason, "other")
            output = (event.get("usage") or {}).get("output_tokens")
            if output is not None:
                self.tokens["output"] = int(output)
        elif kind == "message_stop":
            self.stopped = True


async def stream(
    model: ResolvedModel,
    system: str,
    messages: list[dict[str, Any]],
    tools: list[dict[str, Any]],
) -> AsyncGenerator[list[StreamEvent], None]:
    client = client_for(anthropic.AsyncAnthropic, anthropic.DefaultAioHttpClient, model)
    # The body is encoded here, with orjson, and handed to the SDK's `post` as bytes, and the
    # answer's events are decoded here too (see provider/openai.py): the typed
    # `messages.create` re-encoded the whole history with the standard json on every step and
    # built a typed object per streamed event.
    request: dict[str, Any] = {
        "model": model.model_id,
        "max_tokens": model.max_output,
        "messages": _messages(messages),
        "stream": True,
    }
    if tools:
        request["tools"] = [
            {"name": t["name"], "description": t["description"], "input_schema": t["parameters"]}
            for t in tools
        ]
    if system:
        request["system"] = system
    request.update(request_options(model.options, _REQUEST_OPTIONS))
    try:
        response = await client.post(
            "/v1/messages", cast_to=httpx2.Response, content=orjson.dumps(request), stream=True
        )
    except anthropic.APIStatusError as exc:
        body = exc.response.text if exc.response is not None else None
        raise status_error(exc.status_code, exc.message, dict(exc.response.headers), body) from exc
    except anthropic.APIError as exc:
        raise ProviderError(f"Cannot reach {model.provider_id}: {exc}", retryable=True) from exc

    answer = _Answer()
    try:
        async for events in translated(response, answer.read):
            yield events
    except (ProviderError, StreamDropped):
        raise
    except anthropic.APIError as exc:
        raise StreamDropped(f"The stream from {model.provider_id} failed: {exc}") from exc
    except Exception as exc:  # the transport's own errors (connection reset, truncated body)
        raise StreamDropped(f"The stream from {model.provider_id} was cut off: {exc!r}") from exc
    finally:
        await response.aclose()
    if answer.finish is None or not answer.stopped:
        raise StreamDropped(f"The stream from {model.provider_id} ended before the model finished")
    tokens = answer.tokens
    usage = Usage(
        input=tokens.get("input", 0),
        output=tokens.get("output", 0),
        cache_read=tokens.get("cache_read", 0),
        cache_write=tokens.get("cache_write", 0),
    )
    yield [Finish(answer.finish, usage)]
