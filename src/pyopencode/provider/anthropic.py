"""Anthropic's messages API through the anthropic SDK."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anthropic
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


async def stream(
    model: ResolvedModel,
    system: str,
    messages: list[dict[str, Any]],
    tools: list[dict[str, Any]],
) -> AsyncIterator[StreamEvent]:
    client = client_for(anthropic.AsyncAnthropic, anthropic.DefaultAioHttpClient, model)
    # Plain JSON already: sent as `extra_body`, past the SDK's per-field transform of typed
    # params, which walked the whole history on every step (see provider/openai.py).
    payload: dict[str, Any] = {"messages": _messages(messages)}
    if tools:
        payload["tools"] = [
            {"name": t["name"], "description": t["description"], "input_schema": t["parameters"]}
            for t in tools
        ]
    request: dict[str, Any] = {
        "model": model.model_id,
        "max_tokens": model.max_output,
        "messages": [],
        "stream": True,
        "extra_body": payload,
    }
    if system:
        request["system"] = system
    request.update(request_options(model.options, _REQUEST_OPTIONS))
    try:
        response = await client.messages.create(**request)
    except anthropic.APIStatusError as exc:
        body = exc.response.text if exc.response is not None else None
        raise status_error(exc.status_code, exc.message, dict(exc.response.headers), body) from exc
    except anthropic.APIError as exc:
        raise ProviderError(f"Cannot reach {model.provider_id}: {exc}", retryable=True) from exc

    blocks: dict[int, dict[str, str]] = {}
    finish: str | None = None
    stopped = False
    tokens: dict[str, int] = {}
    try:
        async for event in response:
            kind = event.type
            if kind == "message_start":
                u = event.message.usage
                tokens["input"] = int(u.input_tokens or 0)
                tokens["cache_read"] = int(getattr(u, "cache_read_input_tokens", 0) or 0)
                tokens["cache_write"] = int(getattr(u, "cache_creation_input_tokens", 0) or 0)
                tokens["output"] = int(u.output_tokens or 0)
            elif kind == "content_block_start":
                block = event.content_block
                if block.type == "tool_use":
                    blocks[event.index] = {"id": block.id, "name": block.name, "args": ""}
                    yield ToolCallStart(block.id, block.name)
            elif kind == "content_block_delta":
                delta = event.delta
                if delta.type == "text_delta":
                    yield TextDelta(delta.text)
                elif delta.type == "thinking_delta":
                    yield ReasoningDelta(delta.thinking)
                elif delta.type == "input_json_delta":
                    blocks[event.index]["args"] += delta.partial_json
            elif kind == "content_block_stop":
                call = blocks.pop(event.index, None)
                if call is not None:
                    raw = call["args"] or "{}"
                    try:
                        parsed = orjson.loads(raw)
                    except orjson.JSONDecodeError:
                        parsed = {}
                    if not isinstance(parsed, dict):
                        parsed = {}
                    yield ToolCallEnd(call["id"], call["name"], raw, parsed)
            elif kind == "message_delta":
                if event.delta.stop_reason:
                    finish = _FINISH.get(event.delta.stop_reason, "other")
                if event.usage is not None and event.usage.output_tokens is not None:
                    tokens["output"] = int(event.usage.output_tokens)
            elif kind == "message_stop":
                stopped = True
    except anthropic.APIError as exc:
        raise StreamDropped(f"The stream from {model.provider_id} failed: {exc}") from exc
    except Exception as exc:  # the transport's own errors (connection reset, truncated body)
        raise StreamDropped(f"The stream from {model.provider_id} was cut off: {exc!r}") from exc
    finally:
        await response.close()
    if finish is None or not stopped:
        raise StreamDropped(f"The stream from {model.provider_id} ended before the model finished")
    yield Finish(
        finish,
        Usage(
            input=tokens.get("input", 0),
            output=tokens.get("output", 0),
            cache_read=tokens.get("cache_read", 0),
            cache_write=tokens.get("cache_write", 0),
        ),
    )
