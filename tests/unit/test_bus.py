"""The bus: commit-ordered fan-out with a bounded queue per subscriber."""

from __future__ import annotations

import asyncio

import pytest

from pyopencode.bus import Bus, Event


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
