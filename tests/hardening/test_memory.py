"""Bounded memory: SSE clients that vanish or stop reading cost a bounded amount."""

from __future__ import annotations

import random
import socket
import struct
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.hardening.support import SseReader, connect, open_stream, rss_mb
from tests.serverproc import RunningServer

SUBSCRIBERS = 500
# Measured around 90-110 MB here with 500 stalled subscribers; an unbounded queue per
# subscriber (upstream's 24.5 GB bug) would blow far past this with the writes below.
RSS_LIMIT_MB = 250
# SO_LINGER on with a zero timeout: close() sends RST, like a client that crashed.
_RESET = struct.pack("ii", 1, 0)
TITLE = "t" * 4000  # large events fill socket buffers and queues quickly


def _write(url: str, count: int, workers: int = 8, title: str = TITLE) -> None:
    def one(_: int) -> None:
        with httpx.Client(base_url=url, timeout=60) as client:
            assert client.post("/session", json={"title": title}).status_code == 200

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(one, range(count)))


def test_vanished_subscribers_do_not_grow_memory(
    server_factory: Callable[..., RunningServer],
) -> None:
    server = server_factory(extra_args=["--sse-queue", "50", "--heartbeat", "1"])
    pid = server.proc.pid if server.proc else 0
    baseline = rss_mb(pid)
    socks: list[socket.socket] = []
    for _ in range(SUBSCRIBERS):
        # Tiny receive buffer: the server's writes back up into its own buffers quickly.
        socks.append(open_stream(server.url, "/event", rcvbuf=4096))
    peak = baseline
    for round_ in range(3):
        _write(server.url, 60)
        peak = max(peak, rss_mb(pid))
        if round_ == 1:
            # Half vanish for good: closed without reading; the rest stay silent.
            for sock in socks[: SUBSCRIBERS // 2]:
                sock.close()
    peak = max(peak, rss_mb(pid))
    assert peak < RSS_LIMIT_MB, f"RSS {peak:.0f} MB (baseline {baseline:.0f} MB)"
    # The server still serves, and a fresh subscriber gets live events.
    reader = connect(server.url, "/event")
    with httpx.Client(base_url=server.url, timeout=30) as client:
        created = client.post("/session", json={}).json()["id"]
    frame = reader.next()
    while frame.type.startswith("server."):
        frame = reader.next()
    assert frame.data_info_id == created
    reader.close()
    for sock in socks[SUBSCRIBERS // 2 :]:
        sock.close()
    print(f"RSS baseline {baseline:.0f} MB, peak {peak:.0f} MB with {SUBSCRIBERS} subscribers")


def test_a_subscriber_that_falls_behind_is_cut_off(
    server_factory: Callable[..., RunningServer],
) -> None:
    server = server_factory(extra_args=["--sse-queue", "20", "--heartbeat", "30"])
    sock = open_stream(server.url, "/event", rcvbuf=4096)
    time.sleep(0.5)
    # 12 MB of events: more than the kernel's socket buffers (4 MB here) plus the queue.
    _write(server.url, 60, workers=2, title="t" * 200_000)
    # Now read: what was buffered arrives, then the stream ends instead of going on forever.
    sock.settimeout(10)
    data = b""
    while not data.endswith(b"\r\n0\r\n\r\n"):
        chunk = sock.recv(1 << 16)
        assert chunk, "connection closed without ending the stream"
        data += chunk
    frames = data.count(b"\nid: ")
    assert 1 < frames < 60, frames
    sock.close()


@pytest.mark.slow
def test_soak_sse_churn_with_writes(server_factory: Callable[..., RunningServer]) -> None:
    # A small ring, so it is full before the warm-up ends: its growth is not a leak.
    args = ["--sse-queue", "100", "--heartbeat", "0.5", "--event-buffer", "100"]
    server = server_factory(extra_args=args)
    pid = server.proc.pid if server.proc else 0
    rng = random.Random(7)

    def cycle() -> None:
        socks = [open_stream(server.url, "/event") for _ in range(20)]
        readers = [SseReader(open_stream(server.url, "/global/event")) for _ in range(3)]
        _write(server.url, 20, workers=4)
        for reader in readers:
            reader.next()
        # Some leave abruptly, some politely after reading, some with bytes unread.
        for sock in socks:
            if rng.random() < 0.5:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RESET)
            sock.close()
        for reader in readers:
            reader.close()

    started = time.monotonic()
    while time.monotonic() - started < 8:
        cycle()
    warm = rss_mb(pid)
    while time.monotonic() - started < 35:
        cycle()
    time.sleep(1)
    final = rss_mb(pid)
    assert final < warm * 1.2, f"RSS grew from {warm:.0f} MB to {final:.0f} MB"
    print(f"soak RSS after warm-up {warm:.0f} MB, at end {final:.0f} MB")
