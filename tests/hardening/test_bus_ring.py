"""The bus's replay ring in-process: resume positions, filters, marks and resync."""

from __future__ import annotations

import asyncio

from pyopencode.bus import Bus, Event, Subscription


def _event(n: int, directory: str = "/a") -> Event:
    return Event(type="session.updated", properties={"n": n}, directory=directory)


async def _drain(sub: Subscription) -> list[int]:
    got = []
    while (event := await sub.next(0.01)) is not None:
        got.append(event.properties["n"])
    return got


def test_resume_replays_after_the_id_then_goes_live() -> None:
    async def main() -> None:
        bus = Bus(buffer_size=50)
        events = [_event(n) for n in range(20)]
        bus.publish(events)
        sub = bus.subscribe(last_event_id=events[4].id)
        assert not sub.resync
        bus.publish([_event(20)])
        assert await _drain(sub) == list(range(5, 21))

    asyncio.run(main())


def test_replay_respects_the_filter() -> None:
    async def main() -> None:
        bus = Bus()
        events = [_event(n, "/a" if n % 2 else "/b") for n in range(10)]
        bus.publish(events)
        sub = bus.subscribe(lambda e: e.directory == "/a", last_event_id=events[0].id)
        assert await _drain(sub) == [1, 3, 5, 7, 9]

    asyncio.run(main())


def test_evicted_or_unknown_ids_ask_for_resync() -> None:
    async def main() -> None:
        bus = Bus(buffer_size=5)
        events = [_event(n) for n in range(10)]
        bus.publish(events)
        assert bus.subscribe(last_event_id=events[4].id).resync
        assert bus.subscribe(last_event_id="evt_nope").resync
        # The oldest event still in the ring is a gapless resume point.
        edge = bus.subscribe(last_event_id=events[5].id)
        assert not edge.resync and await _drain(edge) == [6, 7, 8, 9]

    asyncio.run(main())


def test_a_heartbeat_mark_resumes_where_the_subscriber_was() -> None:
    async def main() -> None:
        bus = Bus()
        sub = bus.subscribe()
        bus.publish([_event(0)])
        sub.mark("evt_pending")  # event 0 not yet handed out: the mark must not skip it
        assert await _drain(sub) == [0]
        sub.mark("evt_idle")
        bus.publish([_event(1), _event(2)])
        assert await _drain(bus.subscribe(last_event_id="evt_pending")) == [0, 1, 2]
        assert await _drain(bus.subscribe(last_event_id="evt_idle")) == [1, 2]

    asyncio.run(main())


def test_ring_and_marks_stay_bounded() -> None:
    bus = Bus(buffer_size=10)
    for n in range(1000):
        bus.publish([_event(n)])
        bus.mark(f"evt_{n}", bus.seq)
    assert len(bus._ring) == 10 and len(bus._positions) == 10
    assert len(bus._marks) <= 1024
