"""Helpers for the hardening tests: SSE frames over raw sockets, RSS, credentials."""

from __future__ import annotations

import base64
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson

from tests.serverproc import RunningServer

PASSWORD = "correct horse battery staple"
AUTH_ENV = {"OPENCODE_SERVER_PASSWORD": PASSWORD}
AUTH = ("opencode", PASSWORD)


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@dataclass
class Frame:
    id: str
    data: dict[str, Any]

    @property
    def type(self) -> str:
        return str(self.payload["type"])

    @property
    def payload(self) -> dict[str, Any]:
        payload: dict[str, Any] = self.data.get("payload", self.data)
        return payload

    @property
    def data_info_id(self) -> str:
        return str(self.payload["properties"]["info"]["id"])


def open_stream(
    url: str, path: str, headers: dict[str, str] | None = None, rcvbuf: int | None = None
) -> socket.socket:
    """Send `GET path` and return the socket, response not read."""
    parts = urlsplit(url)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        # Before connect, so the advertised window stays small and the server backs up.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.settimeout(10)
    sock.connect((parts.hostname or "", parts.port or 80))
    lines = [f"GET {path} HTTP/1.1", f"Host: {parts.netloc}", "Accept: text/event-stream"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    return sock


class SseReader:
    """Reads SSE frames from a raw socket (chunked transfer encoding undone on the fly)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = b""
        self.body = b""
        self.status = 0
        self._headers_done = False

    def _fill(self, deadline: float) -> None:
        self.sock.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError("stream closed")
        self.buf += chunk
        if not self._headers_done and b"\r\n\r\n" in self.buf:
            head, self.buf = self.buf.split(b"\r\n\r\n", 1)
            self.status = int(head.split()[1])
            self._headers_done = True
        if self._headers_done:
            self._dechunk()

    def _dechunk(self) -> None:
        while b"\r\n" in self.buf:
            size_line, rest = self.buf.split(b"\r\n", 1)
            size = int(size_line, 16)
            if len(rest) < size + 2:
                return
            self.body += rest[:size]
            self.buf = rest[size + 2 :]

    def next(self, timeout: float = 10.0) -> Frame:
        deadline = time.monotonic() + timeout
        while b"\n\n" not in self.body:
            self._fill(deadline)
        raw, self.body = self.body.split(b"\n\n", 1)
        fields = dict(line.split(b": ", 1) for line in raw.split(b"\n"))
        return Frame(fields[b"id"].decode(), orjson.loads(fields[b"data"]))

    def close(self) -> None:
        self.sock.close()


def connect(url: str, path: str, headers: dict[str, str] | None = None) -> SseReader:
    reader = SseReader(open_stream(url, path, headers))
    first = reader.next()
    assert reader.status == 200
    assert first.type == "server.connected"
    return reader


def start_server(
    base: Path, extra_args: list[str] | None = None, env: dict[str, str] | None = None
) -> RunningServer:
    """A server for a module-scoped fixture (starting one costs seconds on a loaded machine)."""
    (base / "work").mkdir(parents=True, exist_ok=True)
    server = RunningServer(
        data_dir=base / "data", cwd=base / "work", extra_args=extra_args or [], env=env or {}
    )
    return server.start()


def stop_server(server: RunningServer) -> None:
    if server.proc is not None and server.proc.poll() is None:
        server.proc.kill()
        server.proc.wait()
