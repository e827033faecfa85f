"""The bus: commit-ordered fan-out with a bounded queue per subscriber."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from pyopencode.bus import GATHER_ABOVE, GATHER_S, WRITE_NOW_UPTO, Bus, Event


def _event(n: int, directory: str = "/a") -> Event:
    return Event(type="session.updated", properties={"n": n}, directory=directory)


def test_events_arrive_in_publish_order() -> None:
    async def main() -> list[int]:
        bus = Bus()
        sub = bus.subscribe()
        bus.publish([_event(n) for n in range(100)])
        got = []
        for _ in range(100):
            event = await sub.next(1)
            assert event is not None
            got.append(event.properties["n"])
        return got

    assert asyncio.run(main()) == list(range(100))


def test_a_subscriber_that_falls_behind_is_dropped_and_freed() -> None:
    async def main() -> None:
        bus = Bus(max_queue=10)
        slow = bus.subscribe()
        fast = bus.subscribe()
        for n in range(25):
            bus.publish([_event(n)])
            event = await fast.next(1)
            assert event is not None and event.properties["n"] == n
        assert slow.closed and slow.overflowed
        assert bus.subscriber_count == 1
        with pytest.raises(StopAsyncIteration):
            await slow.next(1)

    asyncio.run(main())


def test_filter_selects_by_directory() -> None:
    async def main() -> None:
        bus = Bus()
        sub = bus.subscribe(lambda e: e.directory == "/b")
        bus.publish([_event(1, "/a"), _event(2, "/b")])
        event = await sub.next(1)
        assert event is not None and event.properties["n"] == 2
        assert await sub.next(0.05) is None

    asyncio.run(main())


def test_global_wrapping_carries_directory_and_payload() -> None:
    event = Event(type="session.created", properties={"x": 1}, directory="/d", project="global")
    import orjson

    wrapped = orjson.loads(event.global_json())
    assert wrapped["directory"] == "/d" and wrapped["project"] == "global"
    assert wrapped["payload"] == {"id": event.id, "type": "session.created", "properties": {"x": 1}}
    assert event.id.startswith("evt_")


def test_many_subscribers_each_get_every_event_once_in_order() -> None:
    """Fan-out reads the shared log: each of 200 subscribers (some slower) gets all 3,000
    events exactly once, in order, and events published while it was busy come as one batch."""

    async def main() -> None:
        bus = Bus(max_queue=5000, buffer_size=100)
        subs = [bus.subscribe() for _ in range(200)]
        got: list[list[int]] = [[] for _ in subs]

        async def read(i: int) -> None:
            sub = subs[i]
            while len(got[i]) < 3000:
                event = await sub.next(5)
                assert event is not None
                batch = [event, *sub.ready(10_000)]
                got[i] += [e.properties["n"] for e in batch]
                if i % 10 == 0:
                    await asyncio.sleep(0.001)  # a slower reader

        readers = [asyncio.ensure_future(read(i)) for i in range(len(subs))]
        for start in range(0, 3000, 100):
            bus.publish([_event(n) for n in range(start, start + 100)])
            await asyncio.sleep(0)
        await asyncio.wait_for(asyncio.gather(*readers), 30)
        assert all(g == list(range(3000)) for g in got)
        # Nobody needs the old events any more: the log shrinks back to its replay size (it
        # looks at the subscribers again at most every 256 events, so within that of it).
        for n in range(3000, 3300):
            bus.publish([_event(n)])
        assert len(bus._ring) <= 100 + 256

    asyncio.run(main())


def test_other_directories_events_do_not_end_the_wait_early() -> None:
    """A wait ends with an event it accepts or with its timeout (a heartbeat), never because
    another directory's events woke it."""

    async def main() -> None:
        bus = Bus()
        sub = bus.subscribe(lambda e: e.directory == "/b")
        loop = asyncio.get_running_loop()
        loop.call_later(0.05, bus.publish, [_event(1, "/a")])
        loop.call_later(0.2, bus.publish, [_event(2, "/b")])
        started = loop.time()
        event = await sub.next(5)
        assert event is not None and event.properties["n"] == 2
        assert loop.time() - started >= 0.15

    asyncio.run(main())


@pytest.mark.parametrize("subscribers", [1, GATHER_ABOVE + 1])
def test_many_subscribers_get_events_of_several_turns_in_one_wake_up(subscribers: int) -> None:
    """One subscriber is woken on the next loop turn; hundreds wait up to GATHER_S, so one
    write per subscriber carries what sessions published over several loop turns."""

    async def main() -> tuple[float, int]:
        bus = Bus()
        subs = [bus.subscribe() for _ in range(subscribers)]
        woke: list[float] = []

        async def first() -> int:
            event = await subs[0].next(5)
            woke.append(asyncio.get_running_loop().time())
            assert event is not None
            return 1 + len(subs[0].ready(100))

        reader = asyncio.ensure_future(first())
        await asyncio.sleep(0.01)
        start = asyncio.get_running_loop().time()
        for n in range(3):  # three publishes, each on its own loop turn
            bus.publish([_event(n)])
            await asyncio.sleep(0)
        got = await reader
        return woke[0] - start, got

    waited, got = asyncio.run(main())
    if subscribers == 1:
        # Woken on the loop's next turn after the first publish, before the third.
        assert waited < GATHER_S and got < 3, "woken by the first publish"
    else:
        assert waited >= GATHER_S * 0.9 and got == 3, "one wake-up for all three"


@pytest.mark.parametrize("subscribers", [1, WRITE_NOW_UPTO, WRITE_NOW_UPTO + 1])
def test_a_few_streams_are_written_by_the_publish_itself(subscribers: int) -> None:
    """Streams that write their own batches (`push`, as `GET /event` does) get a publish
    before it returns while there are a few of them; more wait for the loop's next turn."""

    async def main() -> tuple[int, int]:
        bus = Bus()
        subs = [bus.subscribe() for _ in range(subscribers)]
        pushed: list[int] = []
        for i, sub in enumerate(subs):
            sub.push = lambda i=i: pushed.append(i)
        waits = [asyncio.ensure_future(sub.wait(5)) for sub in subs]
        await asyncio.sleep(0)  # each stream's task is now waiting
        bus.publish([_event(1)])
        at_publish = len(pushed)
        await asyncio.sleep(0)
        for wait in waits:
            wait.cancel()
        return at_publish, len(pushed)

    at_publish, later = asyncio.run(main())
    assert later == subscribers
    assert at_publish == (subscribers if subscribers <= WRITE_NOW_UPTO else 0)


def test_subscribers_with_one_key_share_each_batch_and_miss_nothing() -> None:
    """Keyed subscribers at the same position get the bytes the first of them built (its
    filter ran once); each gets exactly its directory's events, in order; one at another
    position builds its own batch."""

    def encode(event: Event) -> bytes:
        return b"%d," % event.properties["n"]

    async def main() -> None:
        bus = Bus()
        looked: list[str] = []

        def accept_for(directory: str, who: str) -> Callable[[Event], bool]:
            def accept(event: Event) -> bool:
                looked.append(who)
                return event.directory == directory

            return accept

        subs = [bus.subscribe(accept_for("/a", f"a{i}"), key=("dir", "/a")) for i in range(5)]
        other = bus.subscribe(accept_for("/b", "b"), key=("dir", "/b"))
        late = bus.subscribe(accept_for("/a", "late"), key=("dir", "/a"))
        bus.publish([_event(n, "/a" if n % 3 else "/b") for n in range(30)])
        for s in [*subs, other]:
            assert await s.wait(1)
        looked.clear()
        batches = [s.frames(100, encode) for s in subs]
        assert set(looked) == {"a0"}, "one filter pass serves every /a subscriber"
        wanted = b"".join(b"%d," % n for n in range(30) if n % 3)
        assert batches == [wanted] * 5
        assert other.frames(100, encode) == b"".join(b"%d," % n for n in range(0, 30, 3))

        bus.publish([_event(100, "/a"), _event(101, "/b")])
        looked.clear()
        assert await late.wait(1)
        assert late.frames(100, encode) == wanted + b"100,"
        assert [s.frames(100, encode) for s in subs] == [b"100,"] * 5
        assert "late" in looked and "a0" in looked
        assert not any(s._pending() for s in [*subs, late])

    asyncio.run(main())


def test_a_closed_subscription_ends_the_wait_and_a_quiet_one_times_out() -> None:
    async def main() -> None:
        bus = Bus()
        sub = bus.subscribe()
        assert await sub.wait(0.02) is False
        assert await sub.next(0.02) is None
        waiting = asyncio.ensure_future(sub.wait(5))
        await asyncio.sleep(0)
        sub.close()
        with pytest.raises(StopAsyncIteration):
            await waiting

    asyncio.run(main())
