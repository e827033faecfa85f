"""A model stream in bursts (provider/bursts.py, provider/sse.py): reads, turns, merging."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator

import pytest

from pyopencode.provider.bursts import merged, sharing
from pyopencode.provider.events import (
    Finish,
    ReasoningDelta,
    StreamEvent,
    TextDelta,
    ToolCallStart,
    Usage,
)
from pyopencode.provider.sse import data_bursts


class _Body:
    """An answer's body as the SDKs hand it over: the bytes of each network read."""

    def __init__(self, reads: list[bytes]) -> None:
        self.reads = reads

    async def aiter_bytes(self) -> AsyncIterator[bytes]:
        for read in self.reads:
            yield read


async def _collect(reads: list[bytes]) -> list[list[dict[str, object]]]:
    return [burst async for burst in data_bursts(_Body(reads))]


def test_the_events_of_one_network_read_come_as_one_list() -> None:
    reads = [
        b'data: {"n": 1}\n\ndata: {"n": 2}\n\ndata: {"n"',  # the third is cut by the read
        b': 3}\n\nevent: ping\ndata: {"n": 4}\n\n',
        b"data: [DONE]\n\n",
        b'data: {"n": 5}\n\n',  # after [DONE]: not read
    ]
    got = asyncio.run(_collect(reads))
    assert got == [[{"n": 1}, {"n": 2}], [{"n": 3}, {"n": 4}]]


def test_a_last_event_without_a_newline_is_not_lost() -> None:
    assert asyncio.run(_collect([b'data: {"n": 1}\n\ndata: {"n": 2}'])) == [[{"n": 1}], [{"n": 2}]]


def test_an_error_event_fails_the_stream_after_the_reads_before_it() -> None:
    from pyopencode.provider.events import StreamDropped

    async def scenario() -> list[list[dict[str, object]]]:
        got = []
        with pytest.raises(StreamDropped, match="overloaded"):
            async for burst in data_bursts(
                _Body([b'data: {"n": 1}\n\n', b'data: {"error": {"message": "overloaded"}}\n\n'])
            ):
                got.append(burst)
        return got

    assert asyncio.run(scenario()) == [[{"n": 1}]]


def test_a_backlog_read_without_waiting_lets_other_tasks_run_before_its_end() -> None:
    async def scenario() -> tuple[int, int]:
        handled = 0
        ran_at: list[int] = []

        async def backlog() -> AsyncGenerator[int, None]:
            for i in range(5000):
                yield i  # never waits: everything is already buffered

        async def other() -> None:
            ran_at.append(handled)

        asyncio.get_running_loop().call_soon(lambda: asyncio.ensure_future(other()))
        async for _item in sharing(backlog(), slice_s=0.0):
            handled += 1
        return handled, ran_at[0]

    handled, ran_at = asyncio.run(scenario())
    assert handled == 5000
    assert ran_at < 4999, "another task ran while the backlog was being handled"


def test_a_stream_that_waits_for_the_network_is_not_made_to_yield_more(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_sleep = asyncio.sleep
    yields = 0

    async def counted(delay: float) -> None:
        nonlocal yields
        yields += delay == 0
        await real_sleep(delay)

    async def slow() -> AsyncGenerator[int, None]:
        for i in range(20):
            await real_sleep(0.001)  # a network wait: the loop turns
            yield i

    async def scenario() -> list[int]:
        return [i async for i in sharing(slow(), slice_s=0.0)]

    monkeypatch.setattr(asyncio, "sleep", counted)
    assert asyncio.run(scenario()) == list(range(20))
    assert yields == 0


def test_a_consumer_that_stops_early_closes_the_source() -> None:
    closed = asyncio.Event()

    async def endless() -> AsyncGenerator[int, None]:
        try:
            n = 0
            while True:
                n += 1
                yield n
                await asyncio.sleep(0.001)
        finally:
            closed.set()

    async def scenario() -> None:
        stream = sharing(endless())
        async for _item in stream:
            break
        await stream.aclose()
        assert closed.is_set(), "the source was closed with the stream, not by the collector"

    asyncio.run(scenario())


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
