"""The bench's `/event` reader decodes a chunked body however the network splits it."""

from __future__ import annotations

import asyncio

from hypothesis import given, settings
from hypothesis import strategies as st

from pyopencode.bench.sse import subscribe
from pyopencode.bench.subscribers import CountingSubscriber


def _chunked(pieces: list[bytes]) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces if p) + b"0\r\n\r\n"


async def _serve_and_read(raw: bytes, cuts: list[int], status: bytes = b"200 OK") -> bytes:
    """A real loopback server writes `raw` after the head, split at `cuts`, with pauses so the
    reader sees the pieces as separate reads; returns what `subscribe` handed on."""
    head = b"HTTP/1.1 " + status + b"\r\ntransfer-encoding: chunked\r\n\r\n"
    wire = head + raw

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        at = 0
        for cut in [*sorted(set(cuts)), len(wire)]:
            if cut > at:
                writer.write(wire[at:cut])
                await writer.drain()
                await asyncio.sleep(0.001)
                at = cut
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    got: list[bytes] = []
    try:
        await asyncio.wait_for(
            subscribe(f"http://127.0.0.1:{port}", "/event", got.append, asyncio.Event(), {}), 10
        )
    finally:
        server.close()
        await server.wait_closed()
    return b"".join(got)


@settings(max_examples=40, deadline=None)
@given(
    pieces=st.lists(st.binary(min_size=0, max_size=300), min_size=1, max_size=8),
    cuts=st.lists(st.integers(min_value=1, max_value=3000), max_size=6),
)
def test_any_split_of_a_chunked_body_decodes_to_the_body(
    pieces: list[bytes], cuts: list[int]
) -> None:
    body = asyncio.run(_serve_and_read(_chunked(pieces), cuts))
    assert body == b"".join(pieces)


def test_a_refused_subscription_raises() -> None:
    async def scenario() -> None:
        try:
            await _serve_and_read(_chunked([b"no"]), [], status=b"503 Busy")
        except ConnectionError as exc:
            assert "503" in str(exc)
        else:
            raise AssertionError("a 503 answer was read as a stream")

    asyncio.run(scenario())


def _frame(kind: bytes, body: bytes) -> bytes:
    return b'data: {"id":"evt_x","type":"%s","properties":%s}\nid: evt_x\n\n' % (kind, body)


@settings(max_examples=60, deadline=None)
@given(cuts=st.lists(st.integers(min_value=1, max_value=400), max_size=6))
def test_a_fanout_reader_counts_delta_chunks_only_however_reads_split(cuts: list[int]) -> None:
    """Stamps count in `message.part.delta` frames only (a finished part repeats them, and
    an event type that merely starts the same is another event); every frame counts once."""
    now = b"%016d" % 1_700_000_000_000_000
    stream = b"".join(
        [
            _frame(b"server.connected", b"{}"),
            _frame(b"message.part.delta", b'{"delta":" ~' + now + b".1~ ~" + now + b'.2~"}'),
            _frame(b"message.part.updated", b'{"text":" ~' + now + b".1~ ~" + now + b'.2~"}'),
            _frame(b"message.part.delta", b'{"delta":" ~' + now + b'.3~"}'),
            _frame(b"message.part.deltas", b'{"delta":" ~' + now + b'.9~"}'),
        ]
    )
    # As the wire carries it: two chunks, the second holding the last two frames.
    split = stream.index(
        b'data: {"id":"evt_x","type":"message.part.delta","properties":{"delta":" ~' + now + b".3"
    )
    wire = _chunked([stream[:split], stream[split:]])[: -len(b"0\r\n\r\n")]
    reader = CountingSubscriber()
    at = 0
    for cut in [*sorted({c for c in cuts if c < len(wire)}), len(wire)]:
        reader.feed(wire[at:cut])
        at = cut
    assert (reader.events, reader.chunks) == (0, 0)  # held, not yet read
    reader.settle()
    assert (reader.events, reader.chunks) == (5, 3)
    assert not reader.ended
    assert 1 <= len(reader.lags_ms) <= 2


def test_a_fanout_reader_notes_a_stream_the_server_ended() -> None:
    """A body's last chunk is found when the reads are counted, as an ended stream."""
    frame = _frame(b"server.connected", b"{}")
    open_reader, ended_reader = CountingSubscriber(), CountingSubscriber()
    open_reader.feed(_chunked([frame])[: -len(b"0\r\n\r\n")])
    ended_reader.feed(_chunked([frame]))
    open_reader.settle()
    ended_reader.settle()
    assert (open_reader.events, open_reader.ended) == (1, False)
    assert (ended_reader.events, ended_reader.ended) == (1, True)
