"""Fake model providers: real HTTP servers speaking the OpenAI and Anthropic streaming protocols."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

Json = dict[str, Any]


@dataclass
class Reply:
    """One scripted answer. `status` other than 200 answers with an error body instead."""

    text: str = ""
    reasoning: str = ""
    tool_calls: list[Json] = field(default_factory=list)  # {"id", "name", "input"}
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False  # cut the connection after the first text chunk
    chunk_delay: float = 0.0
    chunks: int = 3  # the text is streamed in this many pieces


# How agent/title.py's request begins.
TITLE_MARKER = "Generate a title for this conversation:"


def _is_title(body: Json) -> bool:
    first = (body.get("messages") or [{}])[-1].get("content")
    if isinstance(first, list):
        first = "".join(str(b.get("text", "")) for b in first if isinstance(b, dict))
    return isinstance(first, str) and first.startswith(TITLE_MARKER)


def _split(text: str, n: int) -> list[str]:
    if not text:
        return []
    size = max(1, -(-len(text) // n))
    return [text[i : i + size] for i in range(0, len(text), size)]


class Dropped(Exception):
    """Raised inside the body iterator so the server aborts the connection mid-stream."""


class FakeProvider:
    """Serves `script` in order, one reply per request, and records every request body."""

    def __init__(self, protocol: str) -> None:
        self.protocol = protocol
        self.script: list[Reply] = []
        self.requests: list[Json] = []
        self.headers: list[dict[str, str]] = []
        self.url = ""
        # Title requests (agent/title.py) run beside the turn, so they are answered apart from
        # the script, with `title` (or an error when `title_status` is not 200).
        self.title = "Scripted title"
        self.title_status = 200
        self.title_requests: list[Json] = []
        path = "/v1/chat/completions" if protocol == "openai" else "/v1/messages"
        self._app = Starlette(routes=[Route(path, self._handle, methods=["POST"])])
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle
    def start(self) -> FakeProvider:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        config = uvicorn.Config(self._app, log_level="error", lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started and time.monotonic() < deadline:
            time.sleep(0.01)
        self.url = f"http://127.0.0.1:{port}"
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(5)

    # --- serving
    async def _handle(self, request: Request) -> Response:
        body = orjson.loads(await request.body())
        if _is_title(body):
            self.title_requests.append(body)
            reply = Reply(text=self.title, status=self.title_status)
        else:
            self.requests.append(body)
            self.headers.append(dict(request.headers))
            if not self.script:
                return JSONResponse({"error": {"message": "script exhausted"}}, status_code=500)
            reply = self.script.pop(0)
        if reply.status != 200:
            return JSONResponse(self._error_body(reply.status), reply.status, reply.headers)
        frames = self._openai(reply) if self.protocol == "openai" else self._anthropic(reply)
        return StreamingResponse(
            self._pace(frames, reply), media_type="text/event-stream", headers=reply.headers
        )

    def _error_body(self, status: int) -> Json:
        message = {401: "invalid x-api-key", 429: "rate limited"}.get(status, "server error")
        if self.protocol == "openai":
            return {"error": {"message": message, "type": "error", "code": str(status)}}
        kind = {401: "authentication_error", 429: "rate_limit_error"}.get(status, "api_error")
        return {"type": "error", "error": {"type": kind, "message": message}}

    async def _pace(self, frames: list[bytes | None], reply: Reply) -> AsyncIterator[bytes]:
        for frame in frames:
            if frame is None:
                raise Dropped("connection dropped on purpose")
            if reply.chunk_delay:
                await asyncio.sleep(reply.chunk_delay)
            yield frame

    def _openai(self, reply: Reply) -> list[bytes | None]:
        frames: list[bytes | None] = []

        def chunk(delta: Json, finish: str | None = None) -> None:
            payload = {
                "id": "chatcmpl-fake",
                "object": "chat.completion.chunk",
                "created": 0,
                "model": "fake",
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
            frames.append(b"data: " + orjson.dumps(payload) + b"\n\n")

        chunk({"role": "assistant", "content": ""})
        for piece in _split(reply.reasoning, 2):
            chunk({"reasoning_content": piece})
        for piece in _split(reply.text, reply.chunks):
            chunk({"content": piece})
            if reply.drop:
                frames.append(None)
                return frames
        for index, call in enumerate(reply.tool_calls):
            args = orjson.dumps(call["input"]).decode()
            head = {"index": index, "id": call["id"], "type": "function"}
            chunk({"tool_calls": [{**head, "function": {"name": call["name"], "arguments": ""}}]})
            for piece in _split(args, 3):
                chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
        chunk({}, "tool_calls" if reply.tool_calls else "stop")
        usage = {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120}
        frames.append(
            b"data: "
            + orjson.dumps(
                {
                    "id": "chatcmpl-fake",
                    "object": "chat.completion.chunk",
                    "created": 0,
                    "model": "fake",
                    "choices": [],
                    "usage": usage,
                }
            )
            + b"\n\n"
        )
        frames.append(b"data: [DONE]\n\n")
        return frames

    def _anthropic(self, reply: Reply) -> list[bytes | None]:
        frames: list[bytes | None] = []

        def event(kind: str, data: Json) -> None:
            frames.append(
                f"event: {kind}\n".encode()
                + b"data: "
                + orjson.dumps({"type": kind, **data})
                + b"\n\n"
            )

        event(
            "message_start",
            {
                "message": {
                    "id": "msg_fake",
                    "type": "message",
                    "role": "assistant",
                    "content": [],
                    "model": "fake",
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": {"input_tokens": 100, "output_tokens": 1},
                }
            },
        )
        index = 0
        if reply.reasoning:
            event(
                "content_block_start",
                {"index": index, "content_block": {"type": "thinking", "thinking": ""}},
            )
            delta = {"type": "thinking_delta", "thinking": reply.reasoning}
            event("content_block_delta", {"index": index, "delta": delta})
            event("content_block_stop", {"index": index})
            index += 1
        if reply.text:
            event(
                "content_block_start",
                {"index": index, "content_block": {"type": "text", "text": ""}},
            )
            for piece in _split(reply.text, reply.chunks):
                event(
                    "content_block_delta",
                    {"index": index, "delta": {"type": "text_delta", "text": piece}},
                )
                if reply.drop:
                    frames.append(None)
                    return frames
            event("content_block_stop", {"index": index})
            index += 1
        for call in reply.tool_calls:
            block = {"type": "tool_use", "id": call["id"], "name": call["name"], "input": {}}
            event("content_block_start", {"index": index, "content_block": block})
            for piece in _split(orjson.dumps(call["input"]).decode(), 3):
                event(
                    "content_block_delta",
                    {"index": index, "delta": {"type": "input_json_delta", "partial_json": piece}},
                )
            event("content_block_stop", {"index": index})
            index += 1
        stop = "tool_use" if reply.tool_calls else "end_turn"
        event(
            "message_delta",
            {"delta": {"stop_reason": stop, "stop_sequence": None}, "usage": {"output_tokens": 20}},
        )
        event("message_stop", {})
        return frames
