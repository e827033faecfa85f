"""The one small interface every engine implements: a write transaction, a read snapshot, NOTIFY.

Modelled on Datasette's `Database.execute_write_fn(fn)` and httpx's transports. Every table
operation is written once, in `store/rows.py`, against `Tx`; an engine only supplies
connections, the transaction and its locking, placeholders, and how events reach every
instance. SQL is written with `?` placeholders; an engine that speaks another style rewrites
them.
"""

from __future__ import annotations

import abc
import asyncio
from collections.abc import Callable, Coroutine, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from pyopencode.bus import Event
    from pyopencode.errors import OpencodeError

T = TypeVar("T")
Row = tuple[Any, ...]


class Tx(abc.ABC):
    """One transaction (or one read snapshot) on one connection."""

    # Row-lock suffixes. Empty where the engine serialises writers anyway (SQLite's one writer
    # holds the database), so a lock would add nothing.
    FOR_KEY_SHARE: str = ""
    FOR_UPDATE: str = ""

    def joined(self, value: str, source: str, order: str) -> str:
        """SQL for one text: `value` of each row of `source` (`FROM ... [WHERE ...]`), in
        `order`, joined by commas; '' when there are none.

        A list read as one value is one row for the driver: SQLite's module hands the GIL
        over for every row it steps, and each hand-off can wait a whole switch interval for a
        busy thread. SQLite before 3.44 has no ORDER BY inside an aggregate; a subquery that
        has one is never flattened into an aggregate query and feeds it rows in that order.
        """
        return (
            f"coalesce((SELECT group_concat(v, ',') FROM (SELECT {value} AS v {source}"
            f" ORDER BY {order})), '')"
        )

    @abc.abstractmethod
    async def one(self, sql: str, args: Sequence[Any] = ()) -> Row | None: ...

    @abc.abstractmethod
    async def all(self, sql: str, args: Sequence[Any] = ()) -> list[Row]: ...

    @abc.abstractmethod
    async def execute(self, sql: str, args: Sequence[Any] = ()) -> None:
        """Run a statement without waiting for its answer where the engine can (pipelining);
        a statement whose effect must be known says `RETURNING` and uses `all`."""

    @abc.abstractmethod
    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None: ...


# A write returns its value and the events to publish once the transaction is durable.
WriteFn = Callable[[Tx], Coroutine[Any, Any, tuple[T, "list[Event]"]]]
ReadFn = Callable[[Tx], Coroutine[Any, Any, T]]


class Store(abc.ABC):
    """A write returns only after its transaction is durable; its events follow the commit."""

    # True when other server processes share this store, so their events arrive here too.
    shared: bool = False
    _health: str = "ok"
    # A write not answered within this many seconds gets StorageUnavailableError.
    write_timeout: float = 30.0

    @property
    def health(self) -> str:
        """What the last write found: "ok", "full" (disk full) or "unavailable" (locked, timed
        out). Kept in memory, so health checks answer without touching a disk that may hang."""
        return self._health

    @abc.abstractmethod
    async def start(self) -> None: ...

    @abc.abstractmethod
    async def close(self) -> None:
        """Stop taking writes; the writes already accepted still commit."""

    @abc.abstractmethod
    async def write(
        self, fn: WriteFn[T], missing: OpencodeError | None = None, *, frees: bool = False
    ) -> T:
        """Run `fn` in one transaction and publish its events after the commit.

        A foreign-key violation (the row it hangs on was deleted meanwhile) raises `missing`.
        A client that goes away does not cancel a write already accepted. `frees` marks a
        write that removes data: on a full disk it may use the space held in reserve, so that
        space can always be freed through the API.
        """

    @abc.abstractmethod
    async def read(self, fn: ReadFn[T]) -> T:
        """Run `fn`'s statements on one consistent snapshot."""

    @abc.abstractmethod
    async def broadcast(self, events: list[Event]) -> None:
        """Publish `events` on every instance's bus, this one included, writing no rows."""


class Deadlines:
    """Fails writes not answered in time, from one timer per store rather than one per write:
    a timer (or `wait_for`) per write cost a loop hop that halved group-commit batches."""

    def __init__(self) -> None:
        self._waiting: dict[asyncio.Future[Any], float] = {}
        self._expired: set[asyncio.Future[Any]] = set()
        self._timer: asyncio.TimerHandle | None = None

    async def answer(self, future: asyncio.Future[T], seconds: float) -> T:
        """The write's result, or StorageUnavailableError once `seconds` have passed.

        `future` is cancelled when the time is up or the caller is: an engine whose write must
        outlive that passes a shielded one. A hung disk may still take the write, so the error
        says its outcome is unknown rather than that it failed.
        """
        waiter = future
        loop = asyncio.get_running_loop()
        self._waiting[waiter] = loop.time() + seconds
        if self._timer is None:
            self._timer = loop.call_later(min(seconds, 0.5), self._sweep, min(seconds, 0.5))
        try:
            return await waiter
        except asyncio.CancelledError:
            if waiter not in self._expired:
                raise
            from pyopencode.errors import StorageUnavailableError

            raise StorageUnavailableError(
                f"storage unavailable: the write did not finish within {seconds:g}s; its"
                " outcome is unknown (it may still be applied). Check before retrying.",
                retry_after=5,
            ) from None
        finally:
            self._waiting.pop(waiter, None)
            self._expired.discard(waiter)

    def _sweep(self, every: float) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        for waiter, deadline in list(self._waiting.items()):
            if deadline <= now and not waiter.done():
                self._expired.add(waiter)
                waiter.cancel()
        self._timer = loop.call_later(every, self._sweep, every) if self._waiting else None
