"""Terminals: pseudo-terminal processes in a project directory, their bounded output and events."""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import os
import secrets
import signal
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ptyprocess import PtyProcess

from pyopencode import ids
from pyopencode.bus import Event
from pyopencode.errors import BadRequestError, NotFoundError

Json = dict[str, Any]

# Output kept per terminal for late or reconnecting viewers; older output is dropped.
BUFFER_BYTES = 1024 * 1024
# Chunks a viewer may fall behind by before it is disconnected, rather than queue without end.
VIEWER_QUEUE = 1024
TICKET_SECONDS = 60
MAX_TERMINALS = 64
_READ = 65536
_SHELL_NAMES = {"sh", "bash", "zsh", "fish", "dash", "ksh", "mksh", "rbash", "tcsh", "csh"}
_REFUSED_SHELLS = {"nologin", "false", "true"}
_KILL_GRACE_SECONDS = 1.0


class PtyNotFoundError(NotFoundError):
    """No terminal with this id (never created, or removed)."""

    def __init__(self, pty_id: str) -> None:
        super().__init__(f"PTY session not found: {pty_id}")
        self.pty_id = pty_id


def shells() -> list[Json]:
    """Login shells this machine declares (`/etc/shells`), else the user's own shell."""
    found: list[str] = []
    with contextlib.suppress(OSError):
        for line in Path("/etc/shells").read_text().splitlines():
            line = line.strip()
            if line.startswith("/") and line not in found and os.access(line, os.X_OK):
                found.append(line)
    if not found:
        found = [s for s in (os.environ.get("SHELL"), "/bin/sh") if s and os.access(s, os.X_OK)]
    names = [(p, os.path.basename(p)) for p in found]
    return [{"path": p, "name": n, "acceptable": n not in _REFUSED_SHELLS} for p, n in names]


def default_shell() -> str:
    shell = os.environ.get("SHELL")
    if shell and os.access(shell, os.X_OK):
        return shell
    for candidate in ("/bin/bash", "/bin/sh"):
        if os.access(candidate, os.X_OK):
            return candidate
    return "/bin/sh"


@dataclass
class Terminal:
    """One running (or exited) terminal and the output it has produced."""

    id: str
    title: str
    command: str
    args: list[str]
    cwd: str
    directory: str
    project: str
    process: PtyProcess
    status: str = "running"
    exit_code: int | None = None
    # Decoded output in chunks, with the character offset of the first kept chunk.
    _chunks: deque[tuple[str, int]] = field(default_factory=deque)
    _bytes: int = 0
    _start: int = 0
    _end: int = 0
    _decoder: Any = field(default_factory=lambda: codecs.getincrementaldecoder("utf-8")("replace"))
    _viewers: set[asyncio.Queue[str | None]] = field(default_factory=set)

    def info(self) -> Json:
        out: Json = {
            "id": self.id,
            "title": self.title,
            "command": self.command,
            "args": list(self.args),
            "cwd": self.cwd,
            "status": self.status,
            "pid": self.process.pid,
        }
        if self.exit_code is not None:
            out["exitCode"] = self.exit_code
        return out

    @property
    def cursor(self) -> int:
        """Characters of output produced so far; a viewer resumes from such a position."""
        return self._end

    def _append(self, data: bytes, final: bool = False) -> None:
        text = self._decoder.decode(data, final)
        if not text:
            return
        size = len(text.encode())
        self._chunks.append((text, size))
        self._bytes += size
        self._end += len(text)
        while self._bytes > BUFFER_BYTES and len(self._chunks) > 1:
            dropped, dropped_size = self._chunks.popleft()
            self._bytes -= dropped_size
            self._start += len(dropped)
        for queue in list(self._viewers):
            try:
                queue.put_nowait(text)
            except asyncio.QueueFull:
                # Too slow to keep up: cut it off; it may reconnect with its cursor.
                self._viewers.discard(queue)
                queue.get_nowait()
                queue.put_nowait(None)

    def since(self, cursor: int | None) -> str:
        """Kept output from `cursor` on (all of it when None; what is kept when it is older)."""
        text = "".join(chunk for chunk, _ in self._chunks)
        if cursor is None or cursor <= self._start:
            return text
        return text[min(cursor, self._end) - self._start :]

    def watch(self) -> asyncio.Queue[str | None]:
        queue: asyncio.Queue[str | None] = asyncio.Queue(maxsize=VIEWER_QUEUE)
        if self.status == "running":
            self._viewers.add(queue)
        else:
            queue.put_nowait(None)
        return queue

    def unwatch(self, queue: asyncio.Queue[str | None]) -> None:
        self._viewers.discard(queue)

    def write(self, data: str) -> None:
        if self.status != "running":
            return
        with contextlib.suppress(OSError):
            self.process.write(data.encode())

    def resize(self, rows: int, cols: int) -> None:
        if self.status == "running":
            with contextlib.suppress(OSError):
                self.process.setwinsize(rows, cols)

    def _close_viewers(self) -> None:
        for queue in list(self._viewers):
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(None)
        self._viewers.clear()


def _reap(process: PtyProcess, timeout: float) -> int | None:
    """The leader's exit code once it has exited (reaping it), or None if still running."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            alive = process.isalive()
        except Exception:  # ptyprocess raises its own error when it was reaped elsewhere
            alive = False
        if not alive:
            if process.exitstatus is not None:
                return int(process.exitstatus)
            if process.signalstatus is not None:
                return 128 + int(process.signalstatus)
            return 0
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.02)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _kill_group(process: PtyProcess, grace: float) -> int:
    """Hang up on the whole process group, then kill what is left of it; the exit code."""
    pgid = process.pid  # ptyprocess starts the child in its own session: it leads its group
    for sig in (signal.SIGHUP, signal.SIGCONT, signal.SIGTERM):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, sig)
    code = _reap(process, grace)
    deadline = time.monotonic() + grace
    while _group_alive(pgid) and time.monotonic() < deadline:
        time.sleep(0.02)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)
    if code is None:
        code = _reap(process, 5.0)
    with contextlib.suppress(Exception):
        process.close(force=True)
    return 128 + signal.SIGKILL if code is None else code


@dataclass
class _Ticket:
    pty_id: str
    expires: float


class Terminals:
    """Every terminal of this server process. Call only from the event loop thread."""

    def __init__(self, publish: Callable[[Event], None]) -> None:
        self._publish = publish
        self._terminals: dict[str, Terminal] = {}
        self._tickets: dict[str, _Ticket] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def _emit(self, term: Terminal, kind: str, properties: Json) -> None:
        self._publish(Event(kind, properties, directory=term.directory, project=term.project))

    def all(self, directory: str | None = None) -> list[Terminal]:
        return [t for t in self._terminals.values() if directory in (None, t.directory)]

    def get(self, pty_id: str) -> Terminal:
        term = self._terminals.get(pty_id)
        if term is None:
            raise PtyNotFoundError(pty_id)
        return term

    def create(
        self,
        directory: str,
        project: str,
        command: str | None,
        args: list[str] | None,
        cwd: str | None,
        title: str | None,
        env: dict[str, str] | None,
    ) -> Terminal:
        if len(self._terminals) >= MAX_TERMINALS:
            raise BadRequestError(f"At most {MAX_TERMINALS} terminals may be open at once")
        where = os.path.normpath(os.path.join(directory, cwd)) if cwd else directory
        if not os.path.isdir(where):
            raise BadRequestError(f"cwd: not a directory: {where}", field="cwd")
        program = command or default_shell()
        if args is None:
            args = ["-l"] if os.path.basename(program) in _SHELL_NAMES else []
        environment = {**os.environ, **(env or {}), "TERM": "xterm-256color"}
        environment.pop("OPENCODE_SERVER_PASSWORD", None)
        try:
            process = PtyProcess.spawn(
                [program, *args], cwd=where, env=environment, dimensions=(24, 80)
            )
        except (OSError, FileNotFoundError) as exc:
            raise BadRequestError(f"command: cannot run {program}: {exc}", field="command") from exc
        pty_id = ids.ascending("pty")
        term = Terminal(
            id=pty_id,
            title=title or f"Terminal {pty_id[-4:]}",
            command=program,
            args=list(args),
            cwd=where,
            directory=directory,
            project=project,
            process=process,
        )
        self._terminals[pty_id] = term
        loop = asyncio.get_running_loop()
        os.set_blocking(process.fd, False)
        loop.add_reader(process.fd, self._readable, term)
        self._emit(term, "pty.created", {"info": term.info()})
        return term

    def _readable(self, term: Terminal) -> None:
        try:
            data = os.read(term.process.fd, _READ)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data:
            term._append(data)
            return
        # EOF (or EIO on Linux): every holder of the terminal's other end has gone.
        asyncio.get_running_loop().remove_reader(term.process.fd)
        term._append(b"", final=True)
        term._close_viewers()
        task = asyncio.create_task(self._exited(term))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _exited(self, term: Terminal) -> None:
        code = await asyncio.to_thread(_reap, term.process, 5.0)
        if term.status != "running":
            return
        term.status = "exited"
        term.exit_code = 0 if code is None else code
        if term.id in self._terminals:
            self._emit(term, "pty.exited", {"id": term.id, "exitCode": term.exit_code})

    def update(self, pty_id: str, title: str | None, size: tuple[int, int] | None) -> Terminal:
        term = self.get(pty_id)
        if title is not None:
            term.title = title
        if size is not None:
            term.resize(*size)
        self._emit(term, "pty.updated", {"info": term.info()})
        return term

    async def remove(self, pty_id: str) -> None:
        term = self.get(pty_id)
        del self._terminals[pty_id]
        await self._stop(term)
        self._emit(term, "pty.deleted", {"id": pty_id})

    async def _stop(self, term: Terminal) -> None:
        with contextlib.suppress(ValueError, OSError):
            asyncio.get_running_loop().remove_reader(term.process.fd)
        term._close_viewers()
        code = await asyncio.to_thread(_kill_group, term.process, _KILL_GRACE_SECONDS)
        if term.status == "running":
            term.status = "exited"
            term.exit_code = code

    async def dispose(self, directory: str | None = None) -> int:
        """Remove every terminal (of `directory`); returns how many were removed."""
        doomed = self.all(directory)
        for term in doomed:
            self._terminals.pop(term.id, None)
        await asyncio.gather(*(self._stop(t) for t in doomed))
        for term in doomed:
            self._emit(term, "pty.deleted", {"id": term.id})
        return len(doomed)

    def close(self) -> None:
        """At shutdown: kill every process group now, without grace or events."""
        loop = asyncio.get_running_loop()
        for term in self._terminals.values():
            with contextlib.suppress(ValueError, OSError):
                loop.remove_reader(term.process.fd)
            _kill_group(term.process, 0.0)
        self._terminals.clear()

    def ticket(self, pty_id: str) -> tuple[str, int]:
        """A single-use ticket that opens `pty_id`'s WebSocket without other credentials."""
        self.get(pty_id)
        now = time.monotonic()
        self._tickets = {k: t for k, t in self._tickets.items() if t.expires > now}
        token = secrets.token_urlsafe(32)
        self._tickets[token] = _Ticket(pty_id, now + TICKET_SECONDS)
        return token, TICKET_SECONDS

    def redeem(self, token: str, pty_id: str) -> bool:
        ticket = self._tickets.pop(token, None)
        return ticket is not None and ticket.pty_id == pty_id and ticket.expires > time.monotonic()
