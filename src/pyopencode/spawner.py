"""Short commands run by a helper process, so the event loop writes a request, not a spawn.

Each snapshot is a few git runs per step of every session. Spawned from the server, each cost
the event loop about a millisecond (the vfork and exec, the pipes, the reaping), a fifth of
its time with 16 sessions prompting, and every session's stream waited behind it. The helper
(`python -m pyopencode.spawner`, started on first use, one per event loop) spawns them on the
other core and answers each request with the command's `Result`; the loop's part is a
message each way on a pipe.

A request is one JSON line, then its stdin bytes; an answer is one JSON line, then the
command's stdout and stderr bytes. The helper runs requests concurrently and exits when its
stdin closes, so it never outlives the server. If it dies, the requests it held fail with
`SpawnerGone`, and the next request starts a new one.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from pyopencode import futures, process
from pyopencode.file.git import CommandTimeout, Result, run

_HELPERS: dict[asyncio.AbstractEventLoop, Spawner] = {}


class SpawnerGone(Exception):
    """The helper process ended before it answered."""


class Spawner:
    """The server's side of one helper process, on one event loop."""

    def __init__(self, nice: int = 0) -> None:
        self._nice = nice
        self._loop: asyncio.AbstractEventLoop | None = None
        self._child: process.Child | None = None
        self._stdin = -1
        self._outbox = bytearray()
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[Result]] = {}
        self._reading: asyncio.Task[None] | None = None

    async def run(
        self,
        argv: Sequence[str],
        *,
        cwd: str | None = None,
        env: Mapping[str, str] | None = None,
        stdin: bytes | None = None,
        timeout: float,
    ) -> Result:
        """As `file.git.run`, in the helper: CommandTimeout past `timeout`."""
        await self._ensure()
        key = next(self._ids)
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[Result] = loop.create_future()
        self._waiting[key] = answer
        # Retrieved even when its caller is gone, so a failure is not logged as unretrieved.
        answer.add_done_callback(futures.retrieve)
        header = {
            "id": key,
            "argv": list(argv),
            "cwd": cwd,
            "env": dict(env or {}),
            "timeout": timeout,
            "stdin": None if stdin is None else len(stdin),
        }
        self._send(orjson.dumps(header) + b"\n" + (stdin or b""))
        # The command runs to its end (or its timeout) in the helper whether or not anyone
        # still waits, as a spawned one would once started.
        return await asyncio.shield(answer)

    async def _ensure(self) -> None:
        if self._child is not None and self._reading is not None and not self._reading.done():
            return
        self._loop = asyncio.get_running_loop()
        read_fd, self._stdin = os.pipe()
        try:
            # At `nice`, which its commands inherit: background work gives way to the loop.
            child = await process.start(
                sys.executable,
                "-m",
                "pyopencode.spawner",
                stdin=read_fd,
                stderr=None,
                limit=2**20,
                nice=self._nice,
            )
        except BaseException:
            os.close(self._stdin)
            self._stdin = -1
            raise
        finally:
            os.close(read_fd)
        os.set_blocking(self._stdin, False)
        self._child = child
        self._outbox.clear()
        self._reading = self._loop.create_task(self._read(child))

    def _send(self, data: bytes) -> None:
        assert self._loop is not None
        if self._outbox:
            self._outbox += data
            return
        try:
            sent = os.write(self._stdin, data)
        except BlockingIOError:
            sent = 0
        except OSError:
            self._fail_all(SpawnerGone("the spawner's pipe is closed"))
            return
        if sent < len(data):
            self._outbox += data[sent:]
            self._loop.add_writer(self._stdin, self._flush)

    def _flush(self) -> None:
        assert self._loop is not None
        try:
            sent = os.write(self._stdin, self._outbox)
        except BlockingIOError:
            return
        except OSError:
            self._loop.remove_writer(self._stdin)
            self._fail_all(SpawnerGone("the spawner's pipe is closed"))
            return
        del self._outbox[:sent]
        if not self._outbox:
            self._loop.remove_writer(self._stdin)

    async def _read(self, child: process.Child) -> None:
        out = child.stdout
        assert out is not None
        try:
            while header := await out.readline():
                answer = orjson.loads(header)
                stdout = await out.readexactly(answer["out"])
                stderr = await out.readexactly(answer["err"])
                waiter = self._waiting.pop(answer["id"], None)
                if waiter is None or waiter.done():
                    continue
                if answer.get("timeout"):
                    waiter.set_exception(CommandTimeout(answer["message"]))
                else:
                    waiter.set_result(Result(answer["code"], stdout, stderr, answer["truncated"]))
        except (asyncio.IncompleteReadError, ValueError, KeyError, OSError):
            pass
        finally:
            # A helper replaced since (after a failed write) is not this reader's to end.
            if self._child is child:
                self._fail_all(SpawnerGone("the spawner process ended"))
            with contextlib.suppress(Exception):
                await asyncio.wait_for(child.wait(), 10)

    def _fail_all(self, exc: Exception) -> None:
        waiting, self._waiting = self._waiting, {}
        for waiter in waiting.values():
            if not waiter.done():
                waiter.set_exception(exc)
        self._close_pipes()

    def _close_pipes(self) -> None:
        if self._stdin >= 0:
            if self._loop is not None and not self._loop.is_closed() and self._outbox:
                self._loop.remove_writer(self._stdin)
            os.close(self._stdin)
            self._stdin = -1
        if self._child is not None:
            self._child.close()
            self._child = None

    def close(self) -> None:
        """End the helper: it exits once its stdin closes."""
        if self._reading is not None:
            self._reading.cancel()
        self._fail_all(SpawnerGone("the spawner was closed"))


def shared(nice: int = 0) -> Spawner:
    """The helper of the running event loop (started on its first request)."""
    loop = asyncio.get_running_loop()
    found = _HELPERS.get(loop)
    if found is None:
        for old in [known for known in _HELPERS if known.is_closed()]:
            _HELPERS.pop(old)._close_pipes()
        found = _HELPERS[loop] = Spawner(nice)
    return found


async def _answer(request: dict[str, Any], stdin: bytes | None, write: Any) -> None:
    try:
        result = await run(
            request["argv"],
            cwd=request["cwd"],
            env=request["env"],
            stdin=stdin,
            timeout=request["timeout"],
        )
    except CommandTimeout as exc:
        write({"id": request["id"], "timeout": True, "message": str(exc), "out": 0, "err": 0})
        return
    except Exception as exc:
        result = Result(127, b"", f"{type(exc).__name__}: {exc}".encode())
    write(
        {
            "id": request["id"],
            "code": result.code,
            "truncated": result.truncated,
            "out": len(result.stdout),
            "err": len(result.stderr),
        },
        result.stdout,
        result.stderr,
    )


async def _serve() -> None:
    loop = asyncio.get_running_loop()
    requests = asyncio.StreamReader()
    await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(requests), os.fdopen(0, "rb", buffering=0)
    )
    out = sys.stdout.buffer

    def write(header: dict[str, Any], *payload: bytes) -> None:
        # Blocking: the server reads its answers as they come, and one answer is never
        # interleaved with another.
        out.write(orjson.dumps(header) + b"\n")
        for data in payload:
            out.write(data)
        out.flush()

    jobs: set[asyncio.Task[None]] = set()
    while header := await requests.readline():
        request = orjson.loads(header)
        size = request.get("stdin")
        stdin = await requests.readexactly(size) if size is not None else None
        job = asyncio.ensure_future(_answer(request, stdin, write))
        jobs.add(job)
        job.add_done_callback(jobs.discard)
    if jobs:
        await asyncio.gather(*jobs, return_exceptions=True)


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt, BrokenPipeError, asyncio.IncompleteReadError):
        asyncio.run(_serve())
