"""A model stream's bursts (what one network read carried), passed on as one delta each."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncGenerator, Sequence
from typing import TypeVar

from pyopencode.provider.events import ReasoningDelta, StreamEvent, TextDelta

T = TypeVar("T")

# How long a stream may be handled without letting the loop run other tasks. A backlog (the
# turn was busy while a fast model's answer piled up) reads back without ever waiting for the
# network; handled in one go, every other session and subscriber would wait for its end.
SLICE_S = 0.002


async def sharing(
    source: AsyncGenerator[T, None], slice_s: float = SLICE_S
) -> AsyncGenerator[T, None]:
    """`source`'s items, with a turn of the event loop given before one whenever the items
    have kept coming for `slice_s` without the loop running anything else."""
    loop = asyncio.get_running_loop()
    turned = [True]
    since = time.perf_counter()
    # Closed here, not left to the collector: an abandoned model stream holds a connection.
    async with contextlib.aclosing(source):
        async for item in source:
            now = time.perf_counter()
            if turned[0]:
                since = now
            elif now - since > slice_s:
                await asyncio.sleep(0)
                since = time.perf_counter()
            # Set by the loop's next turn: whether one came between this item and the next.
            turned = [False]
            loop.call_soon(turned.__setitem__, 0, True)
            yield item


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
