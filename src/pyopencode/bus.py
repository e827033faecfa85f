"""In-process publish/subscribe of committed events: one shared log, a cursor per subscriber."""

from __future__ import annotations

import asyncio
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

from pyopencode import ids

# Events between server instances (abort requests, busy heartbeats); never shown to clients.
INTERNAL_PREFIX = "pyopencode."
SESSION_ABORT = "pyopencode.session.abort"
SESSION_HEARTBEAT = "pyopencode.session.heartbeat"
# With more subscribers than this, wake-ups wait up to GATHER_S to carry more events each.
GATHER_ABOVE = 64
GATHER_S = 0.01
# With this many subscribers or fewer (a terminal UI, an editor, a script), a publish is
# written to them at once: a loop turn sooner, for a write apiece per publish.
WRITE_NOW_UPTO = 8


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
    # Filled in by the bus when published: its position, and the bytes published up to it.
    seq: int = 0
    total: int = 0
    _encoded: dict[Callable[[Event], bytes], bytes] | None = None

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

    def encoded(self, encode: Callable[[Event], bytes]) -> bytes:
        """`encode(self)`, computed once and shared by every subscriber that asks for it."""
        cache = self._encoded
        if cache is None:
            cache = self._encoded = {}
        found = cache.get(encode)
        if found is None:
            found = cache[encode] = encode(self)
        return found

    @property
    def size(self) -> int:
        """What the byte caps count: the encoded payload (memory held is a small multiple)."""
        return len(self.payload_json())


class Subscription:
    """A subscriber's cursor in the bus's log. Nothing is queued per subscriber: events are
    read from the shared log when the subscriber is ready for them, so publishing costs the
    same for 1 or 500 subscribers. Falling further behind than the caps closes it (the stream
    then ends with `server.resync`) instead of holding memory for it."""

    def __init__(
        self,
        bus: Bus,
        accept: Callable[[Event], bool],
        start: int,
        start_total: int,
        resync: bool = False,
        key: Hashable | None = None,
    ) -> None:
        self._bus = bus
        self._accept = accept
        # Subscriptions with the same key accept the same events (see `frames`).
        self.key = key
        # Log position of the last event looked at, and the bytes published up to it.
        self.cursor = start
        self.cursor_total = start_total
        # True when the client resumed from an id the log no longer covers: it must refetch.
        self.resync = resync
        self.closed = False
        self.overflowed = False
        self._waiter: asyncio.Future[None] | None = None
        # Set by a stream that writes its batches itself when the bus wakes it, instead of
        # having its task resumed (the event stream's fan-out, server/routes/event.py). It
        # runs inside the wake-up and must end by calling `rearm` or `resume`. It is only
        # called while the task waits in `wait`: a task that took a batch and has yet to
        # write it must write it before anything newer goes out.
        self.push: Callable[[], None] | None = None

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.push = None
        self._bus.unsubscribe(self)
        self.wake()

    def wake(self) -> None:
        push = self.push
        if push is not None and self._waiter is not None:
            push()
        else:
            self.resume()

    def resume(self) -> None:
        """Resume the task waiting in `wait`, if one is."""
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def rearm(self) -> None:
        """Be woken by the next publish, without a task waiting (after a `push`)."""
        if not self.closed:
            self._bus.waiting(self)

    def overflow(self) -> None:
        self.overflowed = True
        self.close()

    @property
    def position(self) -> int:
        """Publish position this subscriber has fully seen: everything up to it was sent."""
        if not self.closed and not any(self._accept(e) for e in self._bus.after(self.cursor)):
            # Nothing it wants is pending, so every accepted event so far was handed out.
            return self._bus.seq
        return self.cursor

    def mark(self, event_id: str) -> None:
        """Let a client resume from `event_id`, a frame (heartbeat...) that is not an event."""
        self._bus.mark(event_id, self.position)

    def ready(self, limit: int) -> list[Event]:
        """Up to `limit` more events that are already published, without waiting for any."""
        if self.closed:
            return []
        if self._fell_behind():
            return []
        found: list[Event] = []
        accept = self._accept
        for event in self._bus.after(self.cursor):
            if len(found) >= limit:
                break
            self.cursor = event.seq
            self.cursor_total = event.total
            if accept(event):
                found.append(event)
        return found

    def frames(
        self,
        limit: int,
        encode: Callable[[Event], bytes],
        wrap: Callable[[bytes], bytes] | None = None,
    ) -> bytes:
        """The encoded frames of up to `limit` ready events, joined and passed to `wrap` (b""
        when there are none, unwrapped).

        Subscribers with the same key at the same position get the same bytes, so the first
        of them to ask builds them and the others take its result: with hundreds of
        subscribers to one directory, one filter-and-join per publish instead of one each.
        """
        bus = self._bus
        if self.closed or self.key is None:
            return _joined(self.ready(limit), encode, wrap)
        if self._fell_behind():
            return b""
        shared = bus.batches
        found = shared.get((self.key, encode, wrap, limit, self.cursor))
        if found is not None:
            self.cursor, self.cursor_total, data = found
            return data
        start = self.cursor
        data = _joined(self.ready(limit), encode, wrap)
        shared[(self.key, encode, wrap, limit, start)] = (self.cursor, self.cursor_total, data)
        return data

    async def wait(self, timeout: float) -> bool:
        """Until an event may be ready: False when `timeout` passed with none to send.

        Raises StopAsyncIteration once the subscription is closed and has nothing left."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if self._pending():
                return True
            if self.closed:
                raise StopAsyncIteration
            # Woken by events it does not accept (another directory's), it waits on for the
            # rest of its time: False means a quiet `timeout`, and the stream sends a heartbeat.
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            # Only an idle subscriber waits, on one timer; a busy one never pays for it.
            waiter = self._waiter = loop.create_future()
            self._bus.waiting(self)
            timer = loop.call_later(remaining, _expire, waiter)
            try:
                await waiter
            finally:
                timer.cancel()
                self._waiter = None

    def _fell_behind(self) -> bool:
        """The log moved on past events it had not read (the caps should close it first):
        closed as overflowed."""
        if self.cursor < self._bus.first_seq - 1:
            self.overflow()
            return True
        return False

    def _pending(self) -> bool:
        """An accepted event is published past the cursor (the cursor skips the others)."""
        if self.closed:
            return False
        if self._fell_behind():
            return False
        accept = self._accept
        for event in self._bus.after(self.cursor):
            if accept(event):
                return True
            self.cursor = event.seq
            self.cursor_total = event.total
        return False

    async def next(self, timeout: float) -> Event | None:
        """The next event, or None when `timeout` passes with nothing to send."""
        if not await self.wait(timeout):
            return None
        # `wait` saw an accepted event past the cursor, and nothing ran since.
        found = self.ready(1)
        if not found:
            raise StopAsyncIteration
        return found[0]


def _joined(
    events: list[Event], encode: Callable[[Event], bytes], wrap: Callable[[bytes], bytes] | None
) -> bytes:
    data = b"".join(e.encoded(encode) for e in events)
    return wrap(data) if wrap is not None and data else data


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class Bus:
    """Fans committed events out to subscribers. Call only from the event loop thread.

    Published events go into one log. It keeps at least the last `buffer_size` events (no more
    than `buffer_bytes` of them), so a client that reconnects with the id of the last event it
    saw gets what it missed, and beyond that only what a live subscriber has yet to read. A
    subscriber more than `max_queue` events or `max_queue_bytes` behind is closed. Every id
    handed out (events, and heartbeats via `mark`) maps to a position in the publish sequence;
    an id whose position has left the log cannot be resumed from, and the subscriber is told
    to resync instead of silently skipping.
    """

    def __init__(
        self,
        max_queue: int = 10_000,
        buffer_size: int = 1000,
        max_queue_bytes: int = 16 * 1024 * 1024,
        buffer_bytes: int = 32 * 1024 * 1024,
    ) -> None:
        self.max_queue = max(1, max_queue)
        # 0 means no byte cap, as before the shared log.
        self.max_queue_bytes = max_queue_bytes if max_queue_bytes > 0 else 1 << 62
        self.buffer_size = max(0, buffer_size)
        self.buffer_bytes = max(0, buffer_bytes)
        self._subscribers: set[Subscription] = set()
        self._listeners: list[Callable[[Event], None]] = []
        self._ring: deque[Event] = deque()
        self._ring_bytes = 0
        self._seq = 0  # position of the newest published event
        self._total = 0  # bytes published so far
        self._positions: dict[str, int] = {}  # ids of the events in the log
        # Ids of heartbeats and other frames that carry no event; bounded, oldest dropped.
        self._marks: OrderedDict[str, int] = OrderedDict()
        self._max_marks = max(1024, 4 * self.buffer_size)
        # Subscribers waiting for the next event; a publish wakes them and empties the set.
        self._waiting: set[Subscription] = set()
        self._wake_scheduled = False
        # Subscription.frames results since the last publish, by (key, encoder, wrap, limit,
        # start).
        self.batches: dict[tuple[Any, ...], tuple[int, int, bytes]] = {}
        # No subscriber is behind these (a lower bound, as cursors only move forward): until
        # the log passes them, no cap check or trim needs to look at the subscribers.
        self._min_cursor = 0
        self._min_total = 0
        self._next_min_check = 0

    def subscribe(
        self,
        accept: Callable[[Event], bool] = lambda _e: True,
        last_event_id: str | None = None,
        key: Hashable | None = None,
    ) -> Subscription:
        """A new subscription to the events `accept` takes; give subscriptions whose `accept`
        take the same events the same `key` to let them share encoded batches."""
        resync = False
        start, start_total = self._seq, self._total
        if last_event_id:
            position = self.position(last_event_id)
            if position is None or position < self.first_seq - 1 or position > self._seq:
                resync = True
            else:
                start = position
                start_total = self._total_at(position)
        # No await between the position above and joining the fan-out: nothing falls between.
        sub = Subscription(self, accept, start, start_total, resync, key)
        self._subscribers.add(sub)
        if start < self._min_cursor:
            self._min_cursor, self._min_total = start, start_total
        return sub

    def _total_at(self, position: int) -> int:
        """Bytes published up to `position` (which the log covers, or just precedes)."""
        if position >= self._seq:
            return self._total
        event = self._ring[position - self.first_seq + 1]
        return event.total - event.size

    @property
    def first_seq(self) -> int:
        """Position of the oldest event in the log (one past the newest when it is empty)."""
        return self._seq - len(self._ring) + 1

    def after(self, position: int) -> Iterable[Event]:
        """The logged events after `position`, oldest first."""
        ring = self._ring
        skip = max(0, position - self.first_seq + 1)
        if skip >= len(ring):
            return ()
        # By index: a subscriber reads near the newest end, and a deque reaches an index
        # from its nearer end, where islice would step through every event it skips.
        return (ring[i] for i in range(skip, len(ring)))

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
        self._total += event.size
        event.seq = self._seq
        event.total = self._total
        self._ring.append(event)
        self._positions[event.id] = self._seq
        self._ring_bytes += event.size

    def _over_ring(self) -> bool:
        return bool(self._ring) and (
            len(self._ring) > self.buffer_size or self._ring_bytes > self.buffer_bytes
        )

    def _enforce(self) -> None:
        """Close subscribers past their caps, then drop what no one needs from the log."""
        blocked = self._over_ring() and self._ring[0].seq > self._min_cursor
        if (
            self._seq - self._min_cursor > self.max_queue
            or self._total - self._min_total > self.max_queue_bytes
            # The bound is stale and holds the log over its size: look again, now and then.
            or (blocked and self._seq >= self._next_min_check)
        ):
            self._next_min_check = self._seq + 256
            self._min_cursor, self._min_total = self._seq, self._total
            for sub in list(self._subscribers):
                behind = self._seq - sub.cursor
                if behind > self.max_queue or (
                    # One event always fits, however large: the cap bounds a backlog.
                    behind > 1 and self._total - sub.cursor_total > self.max_queue_bytes
                ):
                    sub.overflow()
                elif sub.cursor < self._min_cursor:
                    self._min_cursor, self._min_total = sub.cursor, sub.cursor_total
        if not self._subscribers:
            self._min_cursor, self._min_total = self._seq, self._total
        ring = self._ring
        # A large event can push out many small ones, itself included; a client whose resume
        # point went with them is told to resync.
        while ring and (len(ring) > self.buffer_size or self._ring_bytes > self.buffer_bytes):
            oldest = ring[0]
            if oldest.seq > self._min_cursor:
                break  # a live subscriber has yet to read it
            ring.popleft()
            self._ring_bytes -= oldest.size
            self._positions.pop(oldest.id, None)

    @property
    def ring_bytes(self) -> int:
        return self._ring_bytes

    def unsubscribe(self, sub: Subscription) -> None:
        self._subscribers.discard(sub)
        self._waiting.discard(sub)

    def listen(self, listener: Callable[[Event], None]) -> None:
        """Register an in-process callback (e.g. the agent runner) for every event."""
        self._listeners.append(listener)

    def waiting(self, sub: Subscription) -> None:
        self._waiting.add(sub)

    def publish(self, events: Iterable[Event]) -> None:
        if self.batches:
            self.batches.clear()
        published = False
        for event in events:
            self._remember(event)
            published = True
            for listener in self._listeners:
                listener(event)
        if not published:
            return
        self._enforce()
        if not self._waiting or self._wake_scheduled:
            return
        count = len(self._subscribers)
        if count <= WRITE_NOW_UPTO:
            self._wake()
            return
        self._wake_scheduled = True
        if count <= GATHER_ABOVE:
            # Woken on the loop's next turn, a subscriber takes everything published by
            # then: one wake-up (and one write) per turn serves any number of events.
            asyncio.get_running_loop().call_soon(self._wake)
        else:
            # Hundreds of subscribers each woken for every publish cost a write apiece, and
            # the writes, not the events, then set the pace: a short wait gathers events
            # from many sessions into one write per subscriber.
            asyncio.get_running_loop().call_later(GATHER_S, self._wake)

    def _wake(self) -> None:
        self._wake_scheduled = False
        waiting, self._waiting = self._waiting, set()
        for sub in waiting:
            sub.wake()

    def close_all(self) -> None:
        for sub in list(self._subscribers):
            sub.close()

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)
