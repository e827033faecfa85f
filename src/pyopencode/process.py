"""Child processes for the event loop: spawned with vfork on the loop, read through pipes.

`asyncio.create_subprocess_exec` under uvloop forks the whole server on the event loop thread:
measured at about 2.4 ms of loop CPU (7.7 ms wall) per `git --version` with 300 MB resident.
`subprocess.Popen` uses vfork: 0.25 ms with 150 MB resident. It runs on the loop thread itself:
from a worker thread the same spawn took 36 ms while the loop was busy, and each hand-over of
the GIL between them could hold the loop up to 5 ms, so every session's stream stalled behind
the snapshots' git runs.
`Child` offers the part of `asyncio.subprocess.Process` that callers use. Its pipes are read
with `add_reader` on file descriptors it owns and closes exactly once: uvloop's pipe transports
close a descriptor behind the file object that holds it, which then closes the same number
again, by then perhaps a client's socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import threading
from collections.abc import Mapping, Sequence
from typing import IO, Any

PIPE = subprocess.PIPE
DEVNULL = subprocess.DEVNULL
STDOUT = subprocess.STDOUT
_LIMIT = 2**16


class _PipeReader:
    """Feeds a StreamReader from a pipe; owns the descriptor and closes it once."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, fd: int, reader: asyncio.StreamReader
    ) -> None:
        os.set_blocking(fd, False)
        self._loop = loop
        self._fd = fd
        self._reader = reader
        self._reading = False
        reader.set_transport(self)  # type: ignore[arg-type]  # it calls only pause/resume
        self.resume_reading()

    def _ready(self) -> None:
        try:
            data = os.read(self._fd, _LIMIT)
        except BlockingIOError:
            return
        except OSError as exc:
            self._reader.set_exception(exc)
            self.close()
            return
        if data:
            self._reader.feed_data(data)
        else:
            self._reader.feed_eof()
            self.close()

    def pause_reading(self) -> None:
        if self._reading and self._fd >= 0:
            self._loop.remove_reader(self._fd)
            self._reading = False

    def resume_reading(self) -> None:
        if not self._reading and self._fd >= 0:
            self._loop.add_reader(self._fd, self._ready)
            self._reading = True

    def close(self) -> None:
        if self._fd < 0:
            return
        if self._reading and not self._loop.is_closed():
            self._loop.remove_reader(self._fd)
        self._reading = False
        os.close(self._fd)
        self._fd = -1


def _own(pipe: IO[bytes]) -> int:
    """A descriptor of our own for `pipe`, whose file object is closed (it closes nothing)."""
    fd = os.dup(pipe.fileno())
    pipe.close()
    return fd


class Child:
    """A running child process with asyncio streams on its output pipes."""

    def __init__(self, popen: subprocess.Popen[bytes]) -> None:
        self._popen = popen
        self.pid = popen.pid
        self.stdout: asyncio.StreamReader | None = None
        self.stderr: asyncio.StreamReader | None = None
        self._pipes: list[_PipeReader] = []
        self._exited: asyncio.Future[int] | None = None

    @property
    def returncode(self) -> int | None:
        return self._popen.returncode

    def _attach(self, limit: int) -> None:
        self.stdout = self._stream(self._popen.stdout, limit)
        self.stderr = self._stream(self._popen.stderr, limit)
        self._popen.stdout = self._popen.stderr = None

    def _stream(self, pipe: IO[bytes] | None, limit: int) -> asyncio.StreamReader | None:
        if pipe is None:
            return None
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=limit, loop=loop)
        self._pipes.append(_PipeReader(loop, _own(pipe), reader))
        return reader

    def close(self) -> None:
        """Stop reading and release the pipes (also done when they reach their end)."""
        for pipe in self._pipes:
            pipe.close()

    def __del__(self) -> None:
        # A caller that stopped reading early and dropped the child: its pipes go with it.
        with contextlib.suppress(Exception):
            self.close()

    async def wait(self) -> int:
        """The exit status, once the process has ended (reaped without a waiting thread)."""
        if self._popen.returncode is not None:
            return self._popen.returncode
        if self._exited is None:
            self._exited = _exit_future(self._popen)
        return await asyncio.shield(self._exited)

    async def communicate(self) -> tuple[bytes, bytes]:
        async def read(stream: asyncio.StreamReader | None) -> bytes:
            return b"" if stream is None else await stream.read()

        out, err = await asyncio.gather(read(self.stdout), read(self.stderr))
        await self.wait()
        return out, err

    def kill(self) -> None:
        """SIGKILL; ProcessLookupError once it has been reaped, as asyncio's Process."""
        if self._popen.returncode is not None:
            raise ProcessLookupError(self.pid)
        os.kill(self.pid, signal.SIGKILL)


def _exit_future(popen: subprocess.Popen[bytes]) -> asyncio.Future[int]:
    loop = asyncio.get_running_loop()
    future: asyncio.Future[int] = loop.create_future()
    try:
        # Readable when the process exits (Linux 5.3+): no thread parked in waitpid.
        fd = os.pidfd_open(popen.pid)
    except (AttributeError, OSError):

        def done(task: asyncio.Future[int]) -> None:
            if not future.done():
                future.set_result(task.result())

        asyncio.ensure_future(asyncio.to_thread(popen.wait)).add_done_callback(done)
        return future

    def exited() -> None:
        if popen.poll() is None:
            return
        loop.remove_reader(fd)
        os.close(fd)
        if not future.done():
            future.set_result(popen.returncode)

    loop.add_reader(fd, exited)
    exited()
    return future


def _feed(popen: subprocess.Popen[bytes], data: bytes) -> None:
    # Blocking, on its own thread: ends when the child has read it all or is gone.
    assert popen.stdin is not None
    with contextlib.suppress(BrokenPipeError, ConnectionResetError, OSError):
        popen.stdin.write(data)
    with contextlib.suppress(OSError):
        popen.stdin.close()


async def start(
    *argv: str,
    cwd: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    input: bytes | None = None,
    stdout: int | None = PIPE,
    stderr: int | None = PIPE,
    start_new_session: bool = False,
    limit: int = _LIMIT,
    nice: int = 0,
    stdin: int | None = None,
) -> Child:
    """Start `argv` (OSError if it cannot be), `input` (or the descriptor `stdin`, which
    stays the caller's) as its stdin, streams on its pipes.

    `nice` above 0 lowers its CPU priority below the server's, so background work (snapshots)
    gives way to the event loop when the cores are busy. It is set just after the spawn
    (setting it in the child would cost vfork), so the child's first moments run unchanged."""
    child = await _start(
        list(argv), False, cwd, env, input, stdout, stderr, start_new_session, limit, stdin
    )
    if nice > 0:
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, child.pid, nice)
    return child


async def start_shell(
    command: str,
    *,
    cwd: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    stdout: int | None = PIPE,
    stderr: int | None = PIPE,
    start_new_session: bool = False,
    limit: int = _LIMIT,
) -> Child:
    """Start `command` under /bin/sh, as `asyncio.create_subprocess_shell` does."""
    return await _start(command, True, cwd, env, None, stdout, stderr, start_new_session, limit)


async def _start(
    args: Sequence[str] | str,
    use_shell: bool,
    cwd: str | os.PathLike[str] | None,
    env: Mapping[str, str] | None,
    input: bytes | None,
    stdout: int | None,
    stderr: int | None,
    start_new_session: bool,
    limit: int,
    stdin: int | None = None,
) -> Child:
    options: dict[str, Any] = {
        "shell": use_shell,
        "cwd": cwd,
        "env": env,
        "stdin": PIPE if input is not None else (DEVNULL if stdin is None else stdin),
        "stdout": stdout,
        "stderr": stderr,
        "start_new_session": start_new_session,
        "bufsize": 0,
    }
    popen = subprocess.Popen(args, **options)
    child = Child(popen)
    child._attach(limit)
    if input is not None:
        # Its own thread: a child that never reads would hold a spawner for its lifetime.
        threading.Thread(target=_feed, args=(popen, input), daemon=True).start()
    return child
