"""Event memory bounded in bytes: the replay ring and a stalled /event reader, with 4 MB parts."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httpx

from pyopencode.bus import Bus, Event
from tests.hardening.support import SseReader, open_stream, rss_mb
from tests.serverproc import RunningServer

MB = 1024 * 1024
TEXT = "x" * (4 * MB)
PARTS = 40


def _post_parts(url: str, count: int, on_each: Callable[[int], None]) -> None:
    with httpx.Client(base_url=url, timeout=60) as client:
        sid = client.post("/session", json={}).json()["id"]
        for i in range(count):
            body = {"noReply": True, "parts": [{"type": "text", "text": TEXT}]}
            r = client.post(f"/session/{sid}/message", json=body)
            assert r.status_code == 200, r.text[:300]
            on_each(i)


def test_replay_ring_is_capped_in_bytes(server_factory: Callable[..., RunningServer]) -> None:
    server = server_factory()  # the default 32 MiB ring
    assert server.proc is not None
    pid = server.proc.pid
    samples: dict[int, float] = {}
    _post_parts(server.url, PARTS, lambda i: samples.__setitem__(i, rss_mb(pid)))
    # Once the ring is full, more 4 MB parts cost nothing more: 120 MB of events went by
    # between these samples; a ring counted in events kept them all (+4 MB per part).
    growth = samples[PARTS - 1] - samples[9]
    assert growth < 40, f"RSS grew {growth:.0f} MB over {PARTS - 10} parts of 4 MB: {samples}"
    # The server still streams.
    reader = SseReader(open_stream(server.url, "/event"))
    connected = reader.next()
    assert connected.type == "server.connected"
    reader.close()


def test_stalled_reader_is_dropped_with_resync_and_memory_returns(
    server_factory: Callable[..., RunningServer],
) -> None:
    # A small ring, so what stays in memory is the subscriber's queue, not the ring.
    args = ["--event-buffer-bytes", str(MB), "--sse-queue-bytes", str(8 * MB), "--heartbeat", "60"]
    server = server_factory(extra_args=args)
    assert server.proc is not None
    pid = server.proc.pid
    stalled = open_stream(server.url, "/event", rcvbuf=4096)
    time.sleep(0.3)
    baseline = rss_mb(pid)
    samples: dict[int, float] = {}
    _post_parts(server.url, PARTS, lambda i: samples.__setitem__(i, rss_mb(pid)))
    peak = max(samples.values())
    # 160 MB of events were published; the stalled reader may pin its 8 MB queue plus the
    # frame being written, not the lot.
    assert peak - baseline < 80, f"RSS {baseline:.0f} -> {peak:.0f} MB: {samples}"
    # Reading now: what was buffered arrives, then a final server.resync, then the end.
    reader = SseReader(stalled)
    types = []
    try:
        while True:
            types.append(reader.next(timeout=20).type)
    except EOFError:
        pass
    assert types[0] == "server.connected"
    assert types[-1] == "server.resync", types
    assert types.count("message.part.updated") < PARTS
    reader.close()
    time.sleep(0.5)
    after = rss_mb(pid)
    assert after <= peak + 5, f"RSS {after:.0f} MB after the socket closed (peak {peak:.0f})"
    # The server still streams to a fresh subscriber.
    fresh = SseReader(open_stream(server.url, "/event"))
    assert fresh.next().type == "server.connected"
    fresh.close()


def _big(n: int, size: int) -> Event:
    return Event(type="message.part.updated", properties={"n": n, "text": "y" * size})


def test_ring_evicts_by_bytes_and_resyncs_old_ids() -> None:
    async def main() -> None:
        bus = Bus(buffer_size=1000, buffer_bytes=10_000)
        events = [_big(n, 3000) for n in range(10)]
        bus.publish(events)
        assert bus.ring_bytes <= 10_000
        # Resuming from an evicted event: told to resync. From a kept one: replayed.
        assert bus.subscribe(last_event_id=events[0].id).resync
        sub = bus.subscribe(last_event_id=events[7].id)
        assert not sub.resync
        got = [(await sub.next(0.01)) for _ in range(2)]
        assert [e.properties["n"] for e in got if e is not None] == [8, 9]

    asyncio.run(main())


def test_subscriber_over_its_byte_cap_is_closed() -> None:
    async def main() -> None:
        bus = Bus(max_queue=1000, max_queue_bytes=10_000)
        sub = bus.subscribe()
        bus.publish([_big(0, 20_000)])  # one event always fits, however large
        assert not sub.closed
        bus.publish([_big(n, 3000) for n in range(1, 4)])
        assert sub.closed and sub.overflowed
        assert bus.subscriber_count == 0

    asyncio.run(main())
