"""A zero-latency model server for the agent benchmark, speaking OpenAI's streaming protocol.

Every turn it is asked for, it answers the same way: first one `write` tool call, then, once
the request carries that tool's result, a text answer streamed as `chunks` pieces. Each text
piece carries a stamp, `~<microseconds since the epoch>.<sequence>~`, taken as the piece is
written to the socket, so an SSE subscriber of the server under test can read it back out of
`message.part.delta` (or `message.part.updated`) and know how long the chunk took to arrive.

A plain asyncio server (no web framework) so the bench package stays a client of HTTP only.
`ModelProcess` runs it in a process of its own, as the bench does: writing thousands of chunks
is CPU that the subscribers timing them must not queue behind (`python -m
pyopencode.bench.modelserver` is that process).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import re
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import orjson

from pyopencode.bench import child, loop
from pyopencode.bench.session import TITLE_PREFIX

Json = dict[str, Any]

PROVIDER_ID = "bench"
MODEL_ID = "instant"
STAMP = re.compile(rb"~(\d{16})\.(\d+)~")
# The user prompt names the file the tool call writes: "... file <path> ...".
_FILE = re.compile(r"file (\S+)")
_MAX_HEADER = 64 * 1024


def stamp(sequence: int) -> str:
    """The marker a chunk carries: its send time in microseconds and a unique number."""
    return f"~{time.time_ns() // 1000:016d}.{sequence}~"


def opencode_config(base_url: str) -> Json:
    """`opencode.json` for a project whose only model is this server (both servers read it)."""
    return {
        "$schema": "https://opencode.ai/config.json",
        "provider": {
            PROVIDER_ID: {
                "name": "Bench",
                "npm": "@ai-sdk/openai-compatible",
                "options": {"baseURL": base_url.rstrip("/") + "/v1", "apiKey": "bench"},
                "models": {MODEL_ID: {"name": "Instant bench model"}},
            }
        },
        "model": f"{PROVIDER_ID}/{MODEL_ID}",
        "small_model": f"{PROVIDER_ID}/{MODEL_ID}",
        "permission": {"edit": "allow", "bash": "allow"},
        "autoupdate": False,
        "share": "disabled",
    }


@dataclass
class ModelStats:
    """What the model server was asked for, by kind of answer."""

    tool_calls: int = 0
    answers: int = 0
    other: int = 0  # requests without tools (titles, summaries): a short plain answer
    errors: list[str] = field(default_factory=list)


class ModelServer:
    """Serves `POST /v1/chat/completions` on 127.0.0.1 until `close()`."""

    def __init__(self, chunks: int = 200, port: int = 0) -> None:
        self.chunks = chunks
        self.port = port
        self.stats = ModelStats()
        self._server: asyncio.Server | None = None
        self._sequence = itertools.count(1)
        self._calls = itertools.count(1)
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> ModelServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            # Idle keep-alive connections end with EOF, so their handlers return rather than
            # being cancelled at loop shutdown.
            for writer in list(self._writers):
                writer.close()
            for _ in range(3):
                await asyncio.sleep(0)
            await self._server.wait_closed()

    async def __aenter__(self) -> ModelServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # --- HTTP/1.1, one request per connection is enough for a client that may reuse them
    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                    return
                if len(head) > _MAX_HEADER:
                    return
                lines = head.decode("latin-1").split("\r\n")
                method, path = [*lines[0].split(" "), "", ""][:2]
                headers = {}
                for line in lines[1:]:
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length") or 0))
                if method != "POST" or not path.split("?")[0].endswith("/chat/completions"):
                    await self._send_json(writer, 404, {"error": {"message": "not found"}})
                    continue
                try:
                    request = orjson.loads(body)
                except orjson.JSONDecodeError:
                    await self._send_json(writer, 400, {"error": {"message": "bad json"}})
                    continue
                await self._answer(writer, request)
                if headers.get("connection", "").lower() == "close":
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _send_json(self, writer: asyncio.StreamWriter, status: int, body: Json) -> None:
        data = orjson.dumps(body)
        writer.write(
            f"HTTP/1.1 {status} X\r\ncontent-type: application/json\r\n"
            f"content-length: {len(data)}\r\n\r\n".encode()
            + data
        )
        await writer.drain()

    async def _answer(self, writer: asyncio.StreamWriter, request: Json) -> None:
        messages = request.get("messages") or []
        user = _last_user_text(messages)
        after_tool = _tool_result_after_user(messages)
        if not request.get("tools"):
            self.stats.other += 1
            # Titles (the only requests without tools in a bench turn) name the bench run.
            kind, text = "other", f"{TITLE_PREFIX} session"
        elif after_tool:
            self.stats.answers += 1
            kind, text = "answer", ""
        else:
            self.stats.tool_calls += 1
            kind, text = "tool", ""
        if not request.get("stream"):
            await self._send_json(writer, 200, _completion(text or "ok"))
            return
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
            b"cache-control: no-cache\r\ntransfer-encoding: chunked\r\n\r\n"
        )
        frame = _Framer(writer)
        frame.send({"role": "assistant", "content": ""})
        if kind == "tool":
            match = _FILE.search(user)
            target = match.group(1) if match else f"bench-out/call-{next(self._calls)}.txt"
            args = orjson.dumps({"filePath": target, "content": f"written for: {user}\n"})
            call = {"index": 0, "id": f"call_{next(self._calls)}", "type": "function"}
            frame.send({"tool_calls": [{**call, "function": {"name": "write", "arguments": ""}}]})
            frame.send({"tool_calls": [{"index": 0, "function": {"arguments": args.decode()}}]})
            frame.send({}, "tool_calls")
        elif kind == "answer":
            for _ in range(self.chunks):
                # Stamped as it is written: the drain below hands it to the kernel right away.
                frame.send({"content": f" {stamp(next(self._sequence))}"})
                await writer.drain()
            frame.send({}, "stop")
        else:
            frame.send({"content": text})
            frame.send({}, "stop")
        frame.usage()
        frame.raw(b"data: [DONE]\n\n")
        writer.write(b"0\r\n\r\n")
        await writer.drain()


class ModelProcess:
    """A `ModelServer` in a child process, with the same `url`, `port` and `stats`.

    The child says its port on stdout once it listens, serves until its stdin closes, then
    writes its stats as JSON and exits.
    """

    def __init__(self, chunks: int = 200, port: int = 0) -> None:
        self.chunks = chunks
        self.port = port
        self.stats = ModelStats()
        self._proc: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> ModelProcess:
        args = ["--chunks", str(self.chunks), "--port", str(self.port)]
        proc = self._proc = await child.spawn(
            "pyopencode.bench.modelserver", *args, keep_stderr=True
        )
        said = await child.receive(proc, _START_TIMEOUT_S)
        if said is None:
            assert proc.stderr is not None
            error = (await proc.stderr.read()).decode(errors="replace").strip()
            await proc.wait()
            last = error.splitlines()[-1] if error else f"exit status {proc.returncode}"
            raise OSError(f"the bench model server did not start: {last}")
        self.port = int(said["port"])
        return self

    async def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        assert proc.stdin is not None
        proc.stdin.close()
        try:
            said = await child.receive(proc, _STOP_TIMEOUT_S)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            return
        if said is not None:
            self.stats = ModelStats(**said)
        await child.stop(proc, _STOP_TIMEOUT_S)

    async def __aenter__(self) -> ModelProcess:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


_START_TIMEOUT_S = 60.0
_STOP_TIMEOUT_S = 30.0


async def _serve_until_stdin_closes(chunks: int, port: int) -> None:
    async with ModelServer(chunks=chunks, port=port) as server:
        child.say({"port": server.port})
        reader = await child.commands()
        with contextlib.suppress(ConnectionError):
            await reader.read()
    child.say(asdict(server.stats))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m pyopencode.bench.modelserver")
    parser.add_argument("--chunks", type=int, default=200)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    loop.runner()[1](_serve_until_stdin_closes(args.chunks, args.port))


class _Framer:
    """Writes OpenAI `chat.completion.chunk` frames as HTTP chunks."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer = writer

    def raw(self, data: bytes) -> None:
        self.writer.write(b"%x\r\n%s\r\n" % (len(data), data))

    def send(self, delta: Json, finish: str | None = None) -> None:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        self.raw(b"data: " + orjson.dumps({**_CHUNK, "choices": [choice]}) + b"\n\n")

    def usage(self) -> None:
        usage = {"prompt_tokens": 100, "completion_tokens": 200, "total_tokens": 300}
        self.raw(b"data: " + orjson.dumps({**_CHUNK, "choices": [], "usage": usage}) + b"\n\n")


_CHUNK: Json = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 0}
_CHUNK["model"] = MODEL_ID


def _completion(text: str) -> Json:
    message = {"role": "assistant", "content": text}
    return {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 0,
        "model": MODEL_ID,
        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12},
    }


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


def _last_user_text(messages: list[Any]) -> str:
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            return _text(message.get("content"))
    return ""


def _tool_result_after_user(messages: list[Any]) -> bool:
    for message in reversed(messages):
        if not isinstance(message, dict):
            continue
        if message.get("role") == "tool":
            return True
        if message.get("role") == "user":
            return False
    return False


if __name__ == "__main__":
    main()
