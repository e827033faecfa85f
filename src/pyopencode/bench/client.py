"""A minimal keep-alive HTTP/1.1 client for timed benchmark requests.

httpx costs about 0.8 ms of CPU per request on the benchmark machine, which is more than a
fast server spends answering; on two cores the driver then measures itself. This client sends
pre-encoded requests on one connection and reads `Content-Length` or chunked bodies, and hands
back ordinary `httpx.Response` objects so every check stays the same.
"""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx


class RawConnection:
    """One HTTP/1.1 connection; `request` mirrors the subset of httpx.AsyncClient bench uses."""

    def __init__(self, url: str, timeout: float) -> None:
        parts = urlsplit(url)
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port or 80
        self._authority = parts.netloc.encode()
        self._base = url.rstrip("/")
        self._timeout = timeout
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def __aenter__(self) -> RawConnection:
        await self._connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._writer is not None:
            self._writer.close()

    async def _connect(self) -> None:
        self._reader, self._writer = await asyncio.open_connection(self._host, self._port)

    async def get(self, path: str, params: dict[str, Any] | None = None) -> httpx.Response:
        return await self.request("GET", path, params=params)

    async def request(
        self,
        method: str,
        path: str,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
        params: dict[str, Any] | None = None,
    ) -> httpx.Response:
        try:
            return await asyncio.wait_for(
                self._exchange(method, path, content, headers, params), self._timeout
            )
        except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError) as exc:
            # The connection is in an unknown state: drop it, reconnect on the next request.
            self._drop()
            raise httpx.TransportError(f"{type(exc).__name__}: {exc}") from exc
        except BaseException:
            # Cancelled mid-exchange (Ctrl-C, SIGTERM): a half-read response would be taken
            # for the next request's answer, so this connection must not be reused.
            self._drop()
            raise

    def _drop(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None

    async def _exchange(
        self,
        method: str,
        path: str,
        content: bytes | None,
        headers: dict[str, str] | None,
        params: dict[str, Any] | None,
    ) -> httpx.Response:
        if self._writer is None:
            await self._connect()
        assert self._reader is not None and self._writer is not None
        if params:
            path = f"{path}?{urlencode(params)}"
        body = content or b""
        head = [f"{method} {path} HTTP/1.1".encode(), b"Host: " + self._authority]
        head += [f"{k}: {v}".encode() for k, v in (headers or {}).items()]
        head.append(b"Content-Length: " + str(len(body)).encode())
        self._writer.write(b"\r\n".join(head) + b"\r\n\r\n" + body)
        reader = self._reader
        status_line = await reader.readuntil(b"\r\n")
        status = int(status_line.split(b" ", 2)[1])
        length: int | None = None
        chunked = False
        close = False
        while (line := await reader.readuntil(b"\r\n")) != b"\r\n":
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
            elif name == b"connection" and b"close" in value.lower():
                close = True
        if chunked:
            data = bytearray()
            while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
                data += await reader.readexactly(size + 2)
                del data[-2:]
            await reader.readuntil(b"\r\n")
            payload = bytes(data)
        elif length is not None:
            payload = await reader.readexactly(length)
        else:
            payload = await reader.read()
            close = True
        if close:
            self._writer.close()
            self._reader = self._writer = None
        return httpx.Response(
            status, content=payload, request=httpx.Request(method, self._base + path)
        )
