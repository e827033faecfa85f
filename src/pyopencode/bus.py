"""In-process publish/subscribe of committed events: queues and a replay ring bounded in bytes."""

from __future__ import annotations

import asyncio
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

from pyopencode import ids

# Events between server instances (abort requests, busy heartbeats); never shown to clients.
INTERNAL_PREFIX = "pyopencode."
SESSION_ABORT = "pyopencode.session.abort"
SESSION_HEARTBEAT = "pyopencode.session.heartbeat"


def is_public(event: Event) -> bool:
    """Whether clients may see `event` (internal control events are not for them)."""
    return not event.type.startswith(INTERNAL_PREFIX)


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
            # Spliced around the encoded payload rather than encoding the properties again.
            head = b"{"
            if self.directory is not None:
                head += b'"directory":' + orjson.dumps(self.directory) + b","
            if self.project is not None:
                head += b'"project":' + orjson.dumps(self.project) + b","
            self._global = head + b'"payload":' + self.payload_json() + b"}"
        return self._global

    @property
    def size(self) -> int:
        """What the byte caps count: the encoded payload (memory held is a small multiple)."""
        return len(self.payload_json())


_CLOSED = object()


class Subscription:
    """A subscriber's queue, bounded in events and in bytes. Falling behind closes it (the
    stream then ends with `server.resync`) instead of growing memory."""

    def __init__(
        self,
        bus: Bus,
        accept: Callable[[Event], bool],
        max_queue: int,
        start: int,
        replay: Iterable[tuple[int, Event]] = (),
        resync: bool = False,
        max_bytes: int = 0,
    ) -> None:
        self._bus = bus
        self._accept = accept
        self._queue: asyncio.Queue[object] = asyncio.Queue(maxsize=max_queue)
        self._max_bytes = max_bytes
        self._queued_bytes = 0
        # Missed events from the ring, sent before anything live; shares the ring's objects.
        self._replay: deque[tuple[int, Event]] = deque(p for p in replay if accept(p[1]))
        # Publish position of the last event handed out by `next`.
        self._delivered = start
        # True when the client resumed from an id the ring no longer covers: it must refetch.
        self.resync = resync
        self.closed = False
        # The close marker was taken by `ready`; `next` reports the end.
        self._ended = False
        self.overflowed = False

    def offer(self, event: Event) -> None:
        if self.closed or not self._accept(event):
            return
        size = event.size
        # One event always fits, however large: the cap bounds a backlog, not an event.
        if self._max_bytes and self._queued_bytes and self._queued_bytes + size > self._max_bytes:
            self.overflowed = True
            self.close()
            return
        try:
            self._queue.put_nowait((self._bus.seq, event))
        except asyncio.QueueFull:
            self.overflowed = True
            self.close()
            return
        self._queued_bytes += size

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._bus.unsubscribe(self)
        # Drop what was queued so a vanished client's backlog is freed now.
        self._replay.clear()
        while not self._queue.empty():
            self._queue.get_nowait()
        self._queued_bytes = 0
        self._queue.put_nowait(_CLOSED)

    @property
    def position(self) -> int:
        """Publish position this subscriber has fully seen: everything up to it was sent."""
        if not self._replay and self._queue.empty() and not self.closed:
            # Nothing pending, so every accepted event so far was handed out.
            return self._bus.seq
        return self._delivered

    def mark(self, event_id: str) -> None:
        """Let a client resume from `event_id`, a frame (heartbeat...) that is not an event."""
        self._bus.mark(event_id, self.position)

    async def next(self, timeout: float) -> Event | None:
        """The next event, or None when `timeout` passes with nothing to send."""
        if self._replay and not self.closed:
            self._delivered, event = self._replay.popleft()
            return event
        if self._ended:
            raise StopAsyncIteration
        if self._queue.empty():
            # Only an idle subscriber waits on a timer; a busy one never pays for it.
            try:
                item = await asyncio.wait_for(self._queue.get(), timeout)
            except TimeoutError:
                return None
        else:
            item = self._queue.get_nowait()
        if item is _CLOSED:
            raise StopAsyncIteration
        return self._take(item)

    def ready(self, limit: int) -> list[Event]:
        """Up to `limit` more events that are already waiting, without waiting for any."""
        found: list[Event] = []
        while len(found) < limit and not self._ended:
            if self._replay and not self.closed:
                self._delivered, event = self._replay.popleft()
                found.append(event)
                continue
            if self._queue.empty():
                break
            item = self._queue.get_nowait()
            if item is _CLOSED:
                # Said on the next call to `next`, after these events have been sent.
                self._ended = True
                break
            found.append(self._take(item))
        return found

    def _take(self, item: object) -> Event:
        assert isinstance(item, tuple)
        self._delivered, event = item
        self._queued_bytes -= event.size
        return event


class Bus:
    """Fans committed events out to subscribers. Call only from the event loop thread.

    The last `buffer_size` events, and no more than `buffer_bytes` of them, stay in a ring, so
    a client that reconnects with the id of the last event it saw gets what it missed. Every
    id handed out (events, and heartbeats via `mark`) maps to a position in the publish
    sequence; an id whose position has left the ring cannot be resumed from, and the
    subscriber is told to resync instead of silently skipping.
    """

    def __init__(
        self,
        max_queue: int = 10_000,
        buffer_size: int = 1000,
        max_queue_bytes: int = 16 * 1024 * 1024,
        buffer_bytes: int = 32 * 1024 * 1024,
    ) -> None:
        self.max_queue = max_queue
        self.max_queue_bytes = max(0, max_queue_bytes)
        self.buffer_size = max(0, buffer_size)
        self.buffer_bytes = max(0, buffer_bytes)
        self._ring_bytes = 0
        self._subscribers: set[Subscription] = set()
        self._listeners: list[Callable[[Event], None]] = []
        self._ring: deque[Event] = deque()
        self._seq = 0  # position of the newest published event
        self._positions: dict[str, int] = {}  # ids of the events in the ring
        # Ids of heartbeats and other frames that carry no event; bounded, oldest dropped.
        self._marks: OrderedDict[str, int] = OrderedDict()
        self._max_marks = max(1024, 4 * self.buffer_size)

    def subscribe(
        self, accept: Callable[[Event], bool] = lambda _e: True, last_event_id: str | None = None
    ) -> Subscription:
        replay: list[tuple[int, Event]] = []
        resync = False
        start = self._seq
        if last_event_id:
            position = self.position(last_event_id)
            oldest = self._seq - len(self._ring)  # the position just before the ring's first
            if position is None or position < oldest or position > self._seq:
                resync = True
            else:
                start = position
                missed = list(self._ring)[position - oldest :]
                replay = [(position + 1 + i, e) for i, e in enumerate(missed)]
        # No await between the snapshot above and joining the fan-out: nothing falls between.
        sub = Subscription(
            self, accept, self.max_queue, start, replay, resync, self.max_queue_bytes
        )
        self._subscribers.add(sub)
        return sub

    def position(self, event_id: str) -> int | None:
        found = self._positions.get(event_id)
        return found if found is not None else self._marks.get(event_id)

    @property
    def seq(self) -> int:
        return self._seq

    def mark(self, event_id: str, position: int) -> None:
        """Record that a client that saw `event_id` has seen everything up to `position`."""
        self._marks[event_id] = position
        if len(self._marks) > self._max_marks:
            self._marks.popitem(last=False)

    def _remember(self, event: Event) -> None:
        self._seq += 1
        if self.buffer_size == 0:
            return
        self._ring.append(event)
        self._positions[event.id] = self._seq
        self._ring_bytes += event.size
        # A large event can push out many small ones, itself included; a client whose resume
        # point went with them is told to resync.
        while self._ring and (
            len(self._ring) > self.buffer_size or self._ring_bytes > self.buffer_bytes
        ):
            oldest = self._ring.popleft()
            self._ring_bytes -= oldest.size
            self._positions.pop(oldest.id, None)

    @property
    def ring_bytes(self) -> int:
        return self._ring_bytes

    def unsubscribe(self, sub: Subscription) -> None:
        self._subscribers.discard(sub)

    def listen(self, listener: Callable[[Event], None]) -> None:
        """Register an in-process callback (e.g. the agent runner) for every event."""
        self._listeners.append(listener)

    def publish(self, events: Iterable[Event]) -> None:
        for event in events:
            self._remember(event)
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
