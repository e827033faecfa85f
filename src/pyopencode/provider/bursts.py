"""A model stream's events grouped by arrival, so a burst goes on to clients as one delta."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Sequence
from typing import TypeVar

from pyopencode.provider.events import ReasoningDelta, StreamEvent, TextDelta

T = TypeVar("T")

# How long the reader may parse without letting the loop run other tasks. A fast model's
# answer can arrive as hundreds of chunks in one network read; parsed in one go, every other
# session and subscriber would wait for the last of them.
SLICE_S = 0.002
# The clock is read once per this many items, not per item.
_CHECK_EVERY = 16


async def bursts(source: AsyncIterator[T], slice_s: float = SLICE_S) -> AsyncIterator[list[T]]:
    """`source`'s items in lists: everything that arrived while the consumer was busy.

    A reader task drains `source` and the consumer takes whatever it has gathered, so a slow
    step (a database write, a busy loop) makes the next list longer rather than the stream
    later. Items keep their order; an error from `source` is raised after the items before it.
    """
    gathered: list[T] = []
    wake = asyncio.Event()
    done = False
    failure: BaseException | None = None

    async def read() -> None:
        nonlocal done, failure
        count = 0
        since = time.perf_counter()
        try:
            async for item in source:
                gathered.append(item)
                wake.set()
                count += 1
                # After a wait for the network this yields once more than needed, which
                # costs the reader a loop turn and delays no item already gathered.
                if count % _CHECK_EVERY == 0 and time.perf_counter() - since > slice_s:
                    await asyncio.sleep(0)
                    since = time.perf_counter()
        except Exception as exc:
            failure = exc
        finally:
            done = True
            wake.set()
            aclose = getattr(source, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(Exception):
                    await aclose()

    reader = asyncio.get_running_loop().create_task(read())
    try:
        while True:
            if not gathered and not done:
                await wake.wait()
                wake.clear()
            if gathered:
                batch = gathered.copy()
                gathered.clear()
                yield batch
            elif done:
                break
        if failure is not None:
            raise failure
    finally:
        if not reader.done():
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader


def merged(events: Sequence[StreamEvent]) -> list[StreamEvent]:
    """`events` with each run of text (or reasoning) deltas joined into one delta."""
    out: list[StreamEvent] = []
    run: list[str] = []
    kind: type[TextDelta] | type[ReasoningDelta] | None = None
    for event in events:
        if isinstance(event, TextDelta | ReasoningDelta):
            if type(event) is not kind and kind is not None:
                out.append(kind("".join(run)))
                run = []
            kind = type(event)
            run.append(event.text)
            continue
        if kind is not None:
            out.append(kind("".join(run)))
            run, kind = [], None
        out.append(event)
    if kind is not None:
        out.append(kind("".join(run)))
    return out
