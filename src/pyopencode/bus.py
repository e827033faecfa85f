"""In-process publish/subscribe of committed events, with a bounded queue per subscriber."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

from pyopencode import ids


@dataclass(slots=True)
class Event:
    """One event as OpenCode clients see it: `{id, type, properties}` plus where it happened."""

    type: str
    properties: dict[str, Any]
    directory: str | None = None
    project: str | None = None
    id: str = field(default_factory=lambda: ids.ascending("evt"))
    _payload: bytes | None = None
    _global: bytes | None = None

    def payload(self) -> dict[str, Any]:
        return {"id": self.id, "type": self.type, "properties": self.properties}

    def payload_json(self) -> bytes:
        # Serialised once and shared by every subscriber.
        if self._payload is None:
            self._payload = orjson.dumps(self.payload())
        return self._payload

    def global_json(self) -> bytes:
        if self._global is None:
            wrapped: dict[str, Any] = {}
            if self.directory is not None:
                wrapped["directory"] = self.directory
            if self.project is not None:
                wrapped["project"] = self.project
            wrapped["payload"] = self.payload()
            self._global = orjson.dumps(wrapped)
        return self._global


_CLOSED = object()


class Subscription:
    """A subscriber's bounded queue. Falling behind closes it instead of growing memory."""

    def __init__(self, bus: Bus, accept: Callable[[Event], bool], max_queue: int) -> None:
        self._bus = bus
        self._accept = accept
        self._queue: asyncio.Queue[object] = asyncio.Queue(maxsize=max_queue)
        self.closed = False
        self.overflowed = False

    def offer(self, event: Event) -> None:
        if self.closed or not self._accept(event):
            return
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            self.overflowed = True
            self.close()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._bus.unsubscribe(self)
        # Drop what was queued so a vanished client's backlog is freed now.
        while not self._queue.empty():
            self._queue.get_nowait()
        self._queue.put_nowait(_CLOSED)

    async def next(self, timeout: float) -> Event | None:
        """The next event, or None when `timeout` passes with nothing to send."""
        try:
            item = await asyncio.wait_for(self._queue.get(), timeout)
        except TimeoutError:
            return None
        if item is _CLOSED:
            raise StopAsyncIteration
        assert isinstance(item, Event)
        return item


class Bus:
    """Fans committed events out to subscribers. Call only from the event loop thread."""

    def __init__(self, max_queue: int = 10_000) -> None:
        self.max_queue = max_queue
        self._subscribers: set[Subscription] = set()
        self._listeners: list[Callable[[Event], None]] = []

    def subscribe(self, accept: Callable[[Event], bool] = lambda _e: True) -> Subscription:
        sub = Subscription(self, accept, self.max_queue)
        self._subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._subscribers.discard(sub)

    def listen(self, listener: Callable[[Event], None]) -> None:
        """Register an in-process callback (e.g. the agent runner) for every event."""
        self._listeners.append(listener)

    def publish(self, events: Iterable[Event]) -> None:
        for event in events:
            for listener in self._listeners:
                listener(event)
            for sub in list(self._subscribers):
                sub.offer(event)

    def close_all(self) -> None:
        for sub in list(self._subscribers):
            sub.close()

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)
