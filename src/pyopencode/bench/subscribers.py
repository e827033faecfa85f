"""Timing subscribers in processes of their own (the fan-out's hundreds, and the agent
workload's chunk timer), so the readers' CPU is not the prompting client's: readers in the
process that also drives the prompts queued behind its HTTP work, and that wait was measured
as the server's lag.

`python -m pyopencode.bench.subscribers URL --count N [--directory D] [--stamps]` connects N
subscribers, writes `{"ready": true}` (or `{"error": ...}`) on stdout, then obeys one command
per stdin line:

- `start`: the counts from here on are the ones reported;
- `drain LIMIT_S`: wait until the streams go quiet or LIMIT_S seconds pass; then count what
  arrived, write the results as one JSON line and exit.

`SubscriberProcess` is the parent's side.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from pyopencode.bench import child, loop
from pyopencode.bench.modelserver import STAMP
from pyopencode.bench.sse import Dechunker, directory_headers, subscribe

CONNECT_BATCH = 50
HOLD_BYTES = 8 * 1024 * 1024
# A subscriber's error when the server ended its stream (only the bench ends one, otherwise).
ENDED = "the server ended the /event stream"
CONNECT_TIMEOUT_S = 60.0
QUIET_S = 0.5
_SPAWN_TIMEOUT_S = 120.0
_STOP_TIMEOUT_S = 10.0


@dataclass
class Report:
    """What one process's subscribers got after `start`."""

    events: list[int] = field(default_factory=list)
    chunks: list[int] = field(default_factory=list)
    lags_ms: list[float] = field(default_factory=list)
    last_arrival: float = 0.0  # wall clock, comparable across processes
    cpu_s: float = 0.0
    errors: list[str] = field(default_factory=list)


async def until_quiet(last_arrival: Callable[[], float], limit_s: float) -> None:
    """Wait until nothing arrived for QUIET_S (`last_arrival` is wall-clock time), at most
    `limit_s`."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if time.time() - last_arrival() > QUIET_S:
            return
        await asyncio.sleep(0.05)


class CountingSubscriber:
    """One of many cheap subscribers: counts events and the chunks their deltas carry, and
    samples the oldest chunk's lag in each read.

    Chunks, not delta events, are what must all arrive: a server may send the chunks that
    reached it together as one delta (pyopencode does), another one delta per chunk.

    `feed` takes the chunked body as it came and only notes each read and its arrival time;
    `settle` decodes and reads them. Reading them as they came was as much CPU as the
    server's own, on the same cores, while it was measured: the counts and lags are the same
    read later, and the instrument no longer competes with the server it times (a subscriber
    on another machine would not). Past HOLD_BYTES held, a subscriber reads what it holds at
    once, so memory stays bounded on long runs.
    """

    def __init__(self) -> None:
        self.events = 0
        self.chunks = 0
        self.lags_ms: list[float] = []
        self._tail = b""
        self.last_arrival = time.time()
        # Two lists, not a list of pairs: ints and bytes give the collector nothing to track.
        self._arrivals: list[int] = []
        self._reads: list[bytes] = []
        self._held = 0
        self._body = Dechunker()
        # The server ended the body (a subscriber that keeps reading never sees that).
        self.ended = False

    def feed(self, data: bytes) -> None:
        arrived = time.time_ns() // 1000
        self.last_arrival = arrived / 1e6
        self._arrivals.append(arrived)
        self._reads.append(data)
        self._held += len(data)
        if self._held > HOLD_BYTES:
            self.settle()

    def settle(self) -> None:
        """Count what was fed so far."""
        arrivals, reads = self._arrivals, self._reads
        self._arrivals, self._reads, self._held = [], [], 0
        for arrived, data in zip(arrivals, reads, strict=True):
            body = self._body.feed(data)
            if body:
                self._count(arrived, body)
        self.ended = self._body.finished

    def _count(self, arrived: int, data: bytes) -> None:
        if self._tail:
            data = self._tail + data
        # Read in place, by searches the C library runs, never byte by byte or frame by frame
        # in Python: 500 readers' parsing was as much CPU as the server under test spent.
        end = data.rfind(b"\n\n") + 2
        if end < 2:
            self._tail = data
            return
        self._tail = data[end:]
        # Every frame's data is a JSON object, which cannot hold `data: {"` unescaped.
        self.events += data.count(_FRAME, 0, end)
        # Both servers put the event's type before its properties.
        at = data.find(_DELTA, 0, end)
        first = True
        while at >= 0:
            stop = data.find(b"\n\n", at, end)
            # Every stamp is "~<time>.<sequence>~" and the bench's text has no other "~".
            self.chunks += data.count(b"~", at, stop) // 2
            if first:
                first = False
                # The first delta in this read waited longest: its lag bounds the others'.
                match = STAMP.search(data, at, stop)
                if match:
                    self.lags_ms.append((arrived - int(match.group(1))) / 1000.0)
            at = data.find(_DELTA, stop, end)


_FRAME = b'data: {"'
_DELTA = b'"type":"message.part.delta"'


class StampSubscriber(CountingSubscriber):
    """The one subscriber that times chunks: the first arrival of every chunk stamp, as a
    latency in ms (in `lags_ms`; `chunks` counts distinct stamps). Held and read later, as
    its base class holds them."""

    def __init__(self) -> None:
        super().__init__()
        self._seen: set[bytes] = set()

    def _count(self, arrived: int, data: bytes) -> None:
        data = self._tail + data
        cut = data.rfind(b"\n")
        self._tail = data[cut + 1 :]
        self.events += data.count(b"\n\n", 0, cut + 1)
        for match in STAMP.finditer(data, 0, cut + 1):
            # A finished part's `message.part.updated` repeats every stamp: count the first.
            sequence = match.group(2)
            if sequence not in self._seen:
                self._seen.add(sequence)
                self.chunks += 1
                self.lags_ms.append((arrived - int(match.group(1))) / 1000.0)


class _Subscribers:
    def __init__(self, url: str, count: int, directory: str | None, stamps: bool) -> None:
        self.url = url
        self.headers = directory_headers(directory)
        kind = StampSubscriber if stamps else CountingSubscriber
        self.readers = [kind() for _ in range(count)]
        self.errors: list[str] = []
        self.tasks: list[asyncio.Task[None]] = []
        self._base: list[tuple[int, int, int]] = []
        self._cpu0 = 0.0

    async def _read(self, sub: CountingSubscriber, ready: asyncio.Event) -> None:
        try:
            await subscribe(self.url, "/event", sub.feed, ready, self.headers, raw=True)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.errors.append(f"{type(exc).__name__}: {exc}")
            ready.set()
        else:
            # Only the bench ends a subscription (by cancelling it): the server closed this one.
            self.errors.append(ENDED)

    async def connect(self) -> None:
        readies = [asyncio.Event() for _ in self.readers]
        # In batches, so the accept queue is not the thing measured.
        for start in range(0, len(self.readers), CONNECT_BATCH):
            batch = range(start, min(len(self.readers), start + CONNECT_BATCH))
            self.tasks += [
                asyncio.create_task(self._read(self.readers[i], readies[i])) for i in batch
            ]
            await asyncio.wait_for(
                asyncio.gather(*(readies[i].wait() for i in batch)), CONNECT_TIMEOUT_S
            )

    def start(self) -> None:
        for r in self.readers:
            r.settle()
        self._base = [(r.events, r.chunks, len(r.lags_ms)) for r in self.readers]
        self._cpu0 = time.process_time()
        # Nothing cyclic is made while the streams are read (see CountingSubscriber); a
        # collection's pause would be timed as the server's lag.
        gc.disable()

    async def drain(self, limit_s: float) -> Report:
        base = self._base or [(0, 0, 0)] * len(self.readers)

        def got(i: int) -> int:
            return self.readers[i].chunks - base[i][1]

        # What has arrived is counted once the streams go quiet: counting it on the way would
        # compete with the server for the cores (see CountingSubscriber).
        await until_quiet(lambda: max(r.last_arrival for r in self.readers), limit_s)
        cpu = time.process_time() - self._cpu0
        gc.enable()
        for r in self.readers:
            r.settle()
        pairs = list(zip(self.readers, base, strict=True))
        report = Report(
            events=[r.events - b[0] for r, b in pairs],
            chunks=[got(i) for i in range(len(self.readers))],
            lags_ms=[lag for r, b in pairs for lag in r.lags_ms[b[2] :]],
            last_arrival=max(r.last_arrival for r in self.readers),
            cpu_s=cpu,
            errors=list(self.errors) + [ENDED] * sum(1 for r in self.readers if r.ended),
        )
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        return report


async def _serve(url: str, count: int, directory: str | None, stamps: bool) -> None:
    subs = _Subscribers(url, count, directory, stamps)
    try:
        await subs.connect()
    except Exception as exc:
        child.say({"error": f"{type(exc).__name__}: {exc}"})
        return
    child.say({"ready": True, "errors": subs.errors})
    commands = await child.commands()
    while line := await commands.readline():
        word, *rest = line.decode().split()
        if word == "start":
            subs.start()
        elif word == "drain":
            report = await subs.drain(float(rest[0]))
            child.say(asdict(report))
            return
    for task in subs.tasks:
        task.cancel()


class SubscriberProcess:
    """`count` subscribers to `url` in a child process; with `stamps`, they time every
    chunk (`StampSubscriber`), else they count and sample (`CountingSubscriber`)."""

    def __init__(self, url: str, count: int, directory: str | None, stamps: bool = False) -> None:
        self.url = url
        self.count = count
        self.directory = directory
        self.stamps = stamps
        self._proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        args = [self.url, "--count", str(self.count)]
        if self.directory:
            args += ["--directory", self.directory]
        if self.stamps:
            args.append("--stamps")
        self._proc = await child.spawn("pyopencode.bench.subscribers", *args)
        said = await self._receive(_SPAWN_TIMEOUT_S)
        if not said.get("ready"):
            await self.close()
            raise ConnectionError(f"fan-out subscribers did not connect: {said.get('error')}")

    async def _receive(self, timeout: float) -> dict[str, Any]:
        assert self._proc is not None
        said = await child.receive(self._proc, timeout)
        return {"error": "the subscriber process exited"} if said is None else said

    def begin(self) -> None:
        assert self._proc is not None
        child.send(self._proc, "start")

    async def drain(self, limit_s: float) -> Report:
        assert self._proc is not None
        child.send(self._proc, f"drain {limit_s}")
        said = await self._receive(limit_s + _SPAWN_TIMEOUT_S)
        if "error" in said:
            return Report(errors=[str(said["error"])])
        return Report(**said)

    async def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            await child.stop(proc, _STOP_TIMEOUT_S)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m pyopencode.bench.subscribers")
    parser.add_argument("url")
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--directory")
    parser.add_argument("--stamps", action="store_true", help="time every chunk stamp")
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        loop.runner()[1](_serve(args.url, args.count, args.directory, args.stamps))


if __name__ == "__main__":
    main()
