"""Event batches written straight to the connection when the bus wakes a subscriber, and the
stream's own task taking over while the peer is not reading: one order on the wire."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from typing import Any

import orjson
import uvicorn

from pyopencode.bus import Bus, Event
from pyopencode.server.chunked import ChunkedBody, chunked_body, frame
from pyopencode.server.limits import GuardedHttpTools
from pyopencode.server.routes import event as event_route


class _Connection:
    """Stands in for the answer's connection: records what reaches it, in order, and whether
    the push or the stream's task sent it."""

    def __init__(self) -> None:
        self.paused = False
        self.wire: list[tuple[str, bytes]] = []

    def writable(self) -> bool:
        return not self.paused

    def write(self, chunk: bytes) -> None:
        assert not self.paused, "pushed while the peer was not reading"
        # Pushed chunks arrive framed; take the frames back out.
        size, rest = chunk.split(b"\r\n", 1)
        assert int(size, 16) == len(rest) - 2 and rest.endswith(b"\r\n")
        self.wire.append(("push", rest[:-2]))


def _stream(bus: Bus, conn: _Connection, heartbeat: float) -> AsyncIterator[bytes]:
    """The event stream of directory /d, writing through `conn` when the bus wakes it."""
    return event_route._stream(
        lambda: bus.subscribe(key=("directory", "/d")),
        heartbeat,
        event_route._event_frame,
        orjson.dumps,
        conn,  # type: ignore[arg-type]
    )


def _types(data: bytes) -> list[str]:
    return [
        orjson.loads(line[len(b"data: ") :])["type"]
        for line in data.split(b"\n")
        if line.startswith(b"data: ")
    ]


def test_a_frame_the_task_took_goes_out_before_anything_pushed_after_it() -> None:
    """The task's own frames (here a heartbeat, sent while the peer is not reading) keep
    their place: an event published meanwhile is neither pushed past them nor lost."""

    async def main() -> list[tuple[str, list[str]]]:
        bus, conn = Bus(), _Connection()
        drained = asyncio.Event()
        stream = _stream(bus, conn, heartbeat=0.05)

        async def send_all() -> None:
            # What the route does with each yielded chunk: a `send` that waits for the drain
            # when the peer is not reading.
            async for chunk in stream:
                if conn.paused:
                    await drained.wait()
                conn.wire.append(("task", chunk))

        sender = asyncio.ensure_future(send_all())
        await asyncio.sleep(0.01)

        def publish(kind: str) -> None:
            bus.publish([Event(type=kind, properties={}, directory="/d")])

        publish("one")
        await asyncio.sleep(0.01)
        conn.paused = True
        await asyncio.sleep(0.08)  # the heartbeat is due: the task takes it, and waits
        conn.paused = False  # the peer reads again before the task has written it
        publish("two")
        await asyncio.sleep(0.01)
        drained.set()
        await asyncio.sleep(0.01)
        publish("three")
        await asyncio.sleep(0.01)
        sender.cancel()
        await asyncio.gather(sender, return_exceptions=True)
        return [(how, _types(data)) for how, data in conn.wire]

    wire = asyncio.run(main())
    assert [t for _, types in wire for t in types][:5] == [
        "server.connected",
        "one",
        "server.heartbeat",
        "two",
        "three",
    ], wire
    assert ("push", ["one"]) in wire and ("push", ["three"]) in wire, wire


def test_a_closed_pushing_subscription_ends_its_stream() -> None:
    async def main() -> list[bytes]:
        bus, conn = Bus(), _Connection()
        stream = _stream(bus, conn, heartbeat=60.0)
        got = [await stream.__anext__()]
        reader = asyncio.ensure_future(stream.__anext__())
        await asyncio.sleep(0.01)
        bus.close_all()
        with contextlib.suppress(StopAsyncIteration):
            got.append(await asyncio.wait_for(reader, 2))
        return got

    got = asyncio.run(main())
    assert _types(got[0]) == ["server.connected"] and len(got) == 1


def test_the_servers_protocol_offers_each_answer_its_connection() -> None:
    """Through uvicorn with our protocol, on a real socket: the app finds a `ChunkedBody`,
    which is writable only between the answer's start and end, and whose chunks a client
    reads as the answer's body."""
    seen: dict[str, Any] = {}

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = chunked_body(scope)
        assert isinstance(body, ChunkedBody)
        seen["before"] = body.writable()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        seen["during"] = body.writable()
        body.write(frame(b"pushed "))
        await send({"type": "http.response.body", "body": b"sent", "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        seen["after"] = body.writable()

    async def main() -> bytes:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        config = uvicorn.Config(app, http=GuardedHttpTools, lifespan="off", log_level="error")
        server = uvicorn.Server(config)
        serving = asyncio.ensure_future(server.serve(sockets=[sock]))
        while not server.started:
            await asyncio.sleep(0.01)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        answer = await asyncio.wait_for(reader.read(), 10)
        writer.close()
        server.should_exit = True
        await serving
        return answer

    answer = asyncio.run(main())
    head, _, body = answer.partition(b"\r\n\r\n")
    assert b"transfer-encoding: chunked" in head.lower()
    assert body == b"7\r\npushed \r\n4\r\nsent\r\n0\r\n\r\n"
    assert seen == {"before": False, "during": True, "after": False}
