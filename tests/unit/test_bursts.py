"""Grouping a model stream by arrival (provider/bursts.py): order, errors, closing, merging."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from pyopencode.provider.bursts import bursts, merged
from pyopencode.provider.events import (
    Finish,
    ReasoningDelta,
    StreamEvent,
    TextDelta,
    ToolCallStart,
    Usage,
)


async def _arrivals(groups: list[list[int]], fail: Exception | None = None) -> AsyncIterator[int]:
    """Yields each group's items back to back, then waits a little, as network reads do."""
    for group in groups:
        for item in group:
            yield item
        await asyncio.sleep(0.01)
    if fail is not None:
        raise fail


def test_items_that_arrive_while_the_consumer_is_busy_come_as_one_list() -> None:
    async def scenario() -> list[list[int]]:
        got: list[list[int]] = []
        async for batch in bursts(_arrivals([[1, 2, 3], [4], [5, 6]])):
            got.append(batch)
            await asyncio.sleep(0.03)  # busy while the rest arrives
        return got

    got = asyncio.run(scenario())
    assert [i for batch in got for i in batch] == [1, 2, 3, 4, 5, 6]
    assert got[0] == [1, 2, 3], "one read's items are not split"
    assert len(got) < 3, "what came while the consumer was busy is one list"


def test_an_error_comes_after_the_items_before_it() -> None:
    async def scenario() -> list[int]:
        seen: list[int] = []
        with pytest.raises(ValueError, match="cut off"):
            async for batch in bursts(_arrivals([[1, 2], [3]], ValueError("cut off"))):
                seen += batch
        return seen

    assert asyncio.run(scenario()) == [1, 2, 3]


def test_a_consumer_that_stops_early_stops_the_reader_and_closes_the_source() -> None:
    closed = asyncio.Event()

    async def endless() -> AsyncIterator[int]:
        try:
            n = 0
            while True:
                n += 1
                yield n
                await asyncio.sleep(0.001)
        finally:
            closed.set()

    async def scenario() -> None:
        stream = bursts(endless())
        async for _batch in stream:
            break
        await stream.aclose()
        await asyncio.wait_for(closed.wait(), 1)
        await asyncio.sleep(0.01)
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        assert others == [], "the reader task is gone"

    asyncio.run(scenario())


def test_a_long_burst_lets_other_tasks_run_before_it_is_all_read() -> None:
    async def scenario() -> tuple[int, int]:
        gathered = 0
        ran_at: list[int] = []

        async def burst() -> AsyncIterator[int]:
            nonlocal gathered
            for i in range(5000):
                gathered = i
                yield i  # never waits: one huge network read

        async def other() -> None:
            ran_at.append(gathered)

        asyncio.get_running_loop().call_soon(lambda: asyncio.ensure_future(other()))
        total = 0
        async for batch in bursts(burst(), slice_s=0.0):
            total += len(batch)
        return total, ran_at[0]

    total, ran_at = asyncio.run(scenario())
    assert total == 5000
    assert ran_at < 4999, "another task ran while the burst was being read"


def test_merged_joins_runs_of_text_and_of_reasoning() -> None:
    finish = Finish("stop", Usage())
    events: list[StreamEvent] = [
        ReasoningDelta("think "),
        ReasoningDelta("hard"),
        TextDelta("Hel"),
        TextDelta("lo"),
        ToolCallStart("c1", "write"),
        TextDelta("!"),
        finish,
    ]
    assert merged(events) == [
        ReasoningDelta("think hard"),
        TextDelta("Hello"),
        ToolCallStart("c1", "write"),
        TextDelta("!"),
        finish,
    ]
    assert merged([]) == []
