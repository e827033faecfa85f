"""OpenAI chat completions (and every OpenAI-compatible endpoint) through the openai SDK."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

import httpx2
import openai
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
    {
        "temperature",
        "top_p",
        "max_tokens",
        "max_completion_tokens",
        "reasoning_effort",
        "seed",
        "stop",
        "frequency_penalty",
        "presence_penalty",
        "parallel_tool_calls",
        "tool_choice",
        "user",
    }
)
_FINISH = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool-calls",
    "function_call": "tool-calls",
    "content_filter": "content-filter",
}


def _messages(system: str, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [{"role": "system", "content": system}] if system else []
    for m in messages:
        if m["role"] == "user":
            content: Any = m["content"]
            if m.get("images"):
                content = [{"type": "text", "text": content or "(empty)"}] + [
                    {
                        "type": "image_url",
                        "image_url": {"url": f"data:{i['mime']};base64,{i['data']}"},
                    }
                    for i in m["images"]
                ]
            out.append({"role": "user", "content": content})
        elif m["role"] == "assistant":
            msg: dict[str, Any] = {"role": "assistant", "content": m.get("content") or None}
            if m.get("tool_calls"):
                msg["tool_calls"] = [
                    {
                        "id": c["id"],
                        "type": "function",
                        "function": {
                            "name": c["name"],
                            "arguments": orjson.dumps(c["input"]).decode(),
                        },
                    }
                    for c in m["tool_calls"]
                ]
            out.append(msg)
        else:
            out.append({"role": "tool", "tool_call_id": m["id"], "content": m["output"]})
    return out


def _tools(tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "type": "function",
            "function": {
                "name": t["name"],
                "description": t["description"],
                "parameters": t["parameters"],
            },
        }
        for t in tools
    ]


def _usage(raw: Any) -> Usage:
    if not isinstance(raw, dict):
        return Usage()
    details = raw.get("completion_tokens_details") or {}
    prompt_details = raw.get("prompt_tokens_details") or {}
    cached = int(prompt_details.get("cached_tokens") or 0)
    return Usage(
        input=int(raw.get("prompt_tokens") or 0) - cached,
        output=int(raw.get("completion_tokens") or 0),
        reasoning=int(details.get("reasoning_tokens") or 0),
        cache_read=cached,
    )


def _tool_call_delta(calls: dict[int, dict[str, str]], tc: dict[str, Any]) -> ToolCallStart | None:
    """Adds a streamed piece of a tool call; the start event once its name arrives."""
    index = tc.get("index", 0)
    call = calls.get(index)
    if call is None:
        call = calls[index] = {"id": tc.get("id") or f"call_{index}", "name": "", "args": ""}
    function = tc.get("function") or {}
    call["args"] += function.get("arguments") or ""
    if function.get("name"):
        call["name"] += function["name"]
        return ToolCallStart(call["id"], call["name"])
    return None


class _Answer:
    """What the completion stream has said so far: tool calls, usage, the finish reason."""

    def __init__(self) -> None:
        self.calls: dict[int, dict[str, str]] = {}
        self.finish: str | None = None
        self.usage = Usage()

    def read(self, chunk: dict[str, Any], out: list[StreamEvent]) -> None:
        """Takes one chunk in, appending what it means for the turn to `out`."""
        if chunk.get("usage"):
            self.usage = _usage(chunk["usage"])
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") or {}
            reasoning = delta.get("reasoning_content") or delta.get("reasoning")
            if isinstance(reasoning, str) and reasoning:
                out.append(ReasoningDelta(reasoning))
            content = delta.get("content")
            if isinstance(content, str) and content:
                out.append(TextDelta(content))
            for tc in delta.get("tool_calls") or ():
                started = _tool_call_delta(self.calls, tc)
                if started is not None:
                    out.append(started)
            if choice.get("finish_reason"):
                self.finish = _FINISH.get(choice["finish_reason"], "other")


async def stream(
    model: ResolvedModel,
    system: str,
    messages: list[dict[str, Any]],
    tools: list[dict[str, Any]],
) -> AsyncGenerator[list[StreamEvent], None]:
    client = client_for(openai.AsyncOpenAI, openai.DefaultAioHttpClient, model)
    # The body is encoded here, with orjson, and handed to the SDK's `post` as bytes: the SDK
    # sends it as given. Its typed `chat.completions.create` re-encoded the whole history
    # with the standard library's json on every step, a twentieth of the event loop's time
    # with 16 sessions prompting (and its per-field transform of typed params, more).
    request: dict[str, Any] = {
        "model": model.model_id,
        "messages": _messages(system, messages),
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    if tools:
        request["tools"] = _tools(tools)
    request.update(request_options(model.options, _REQUEST_OPTIONS))
    answer = _Answer()
    try:
        response = await client.post(
            "/chat/completions",
            cast_to=httpx2.Response,
            body=orjson.dumps(request),
            stream=True,
        )
        try:
            async for events in translated(response, answer.read):
                yield events
        finally:
            await response.aclose()
    except openai.APIStatusError as exc:
        body = exc.response.text if exc.response is not None else None
        raise status_error(exc.status_code, exc.message, dict(exc.response.headers), body) from exc
    except openai.APIConnectionError as exc:
        raise ProviderError(f"Cannot reach {model.provider_id}: {exc}", retryable=True) from exc
    except (ProviderError, StreamDropped):
        raise
    except openai.APIError as exc:
        raise StreamDropped(f"The stream from {model.provider_id} failed: {exc}") from exc
    except Exception as exc:  # the transport's own errors (connection reset, truncated body)
        raise StreamDropped(f"The stream from {model.provider_id} was cut off: {exc!r}") from exc
    finish, calls = answer.finish, answer.calls
    if finish is None:
        raise StreamDropped(f"The stream from {model.provider_id} ended before the model finished")
    if calls and finish == "stop":
        finish = "tool-calls"
    yield [
        *(ToolCallEnd.of(c["id"], c["name"], c["args"]) for c in calls.values()),
        Finish(finish, answer.usage),
    ]
