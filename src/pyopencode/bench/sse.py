"""A lean `GET /event` reader for many concurrent subscribers: raw asyncio, chunked decoding."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from urllib.parse import urlsplit

# Called with each piece of the decoded body, as it arrives.
OnData = Callable[[bytes], None]


async def subscribe(
    url: str, path: str, on_data: OnData, ready: asyncio.Event, headers: dict[str, str]
) -> None:
    """Read `path` as an event stream until cancelled or the server closes it.

    `ready` is set once the response headers are in (the server has registered the subscriber).
    """
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port or 80)
    try:
        extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        writer.write(
            f"GET {path} HTTP/1.1\r\nhost: {parts.netloc}\r\naccept: text/event-stream\r\n"
            f"{extra}\r\n".encode()
        )
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        status = head.split(b" ", 2)[1]
        if status != b"200":
            raise ConnectionError(f"GET {path}: {head[:200]!r}")
        chunked = b"transfer-encoding: chunked" in head.lower()
        ready.set()
        if not chunked:
            while data := await reader.read(65536):
                on_data(data)
            return
        while True:
            size = int((await reader.readline()).split(b";", 1)[0], 16)
            if size == 0:
                return
            on_data(await reader.readexactly(size))
            await reader.readexactly(2)
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()
