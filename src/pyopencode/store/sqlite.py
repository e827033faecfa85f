"""Embedded SQLite engine: one writer thread that group-commits, reads on their own connection."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import sqlite3
import threading
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any, TypeVar

from pyopencode.bus import Bus, Event
from pyopencode.errors import OpencodeError
from pyopencode.store import migrate
from pyopencode.store.base import ReadFn, Row, Store, Tx, WriteFn

log = logging.getLogger("pyopencode.store")

T = TypeVar("T")
_MAX_BATCH = 512
_STOP = object()
Outcome = tuple[asyncio.Future[Any], Any, list[Event], BaseException | None]


def connect(path: Path, *, readonly: bool) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout=10000")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA journal_mode=WAL")
    # FULL makes every commit fsync the WAL: a 2xx is sent only after the data is on disk.
    conn.execute("PRAGMA synchronous=FULL")
    if readonly:
        conn.execute("PRAGMA query_only=1")
    return conn


def run_now(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never suspends, here and now, without an event loop.

    Table operations are written once as coroutines for both engines. On SQLite their
    statements are plain blocking calls, so they finish in one step; that lets the writer
    thread run them inside its transaction.
    """
    try:
        coro.send(None)
    except StopIteration as done:
        result: T = done.value
        return result
    coro.close()
    raise RuntimeError("a SQLite operation awaited something other than its statements")


def _foreign_key(exc: BaseException) -> bool:
    return isinstance(exc, sqlite3.IntegrityError) and "FOREIGN KEY" in str(exc)


class SqliteTx(Tx):
    __slots__ = ("conn",)

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    async def one(self, sql: str, args: Sequence[Any] = ()) -> Row | None:
        row: Row | None = self.conn.execute(sql, args).fetchone()
        return row

    async def all(self, sql: str, args: Sequence[Any] = ()) -> list[Row]:
        return self.conn.execute(sql, args).fetchall()

    async def execute(self, sql: str, args: Sequence[Any] = ()) -> None:
        self.conn.execute(sql, args)

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self.conn.executemany(sql, rows)


class _Writer(threading.Thread):
    """The single writer. Requests that queue up while a commit is in flight share the next one."""

    def __init__(self, path: Path, loop: asyncio.AbstractEventLoop, bus: Bus) -> None:
        super().__init__(name="pyopencode-sqlite-writer", daemon=True)
        self._path = path
        self._loop = loop
        self._bus = bus
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.batches = 0
        self.writes = 0

    def submit(self, fn: WriteFn[Any], missing: OpencodeError | None) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = self._loop.create_future()
        self._queue.put((fn, missing, future))
        return future

    def stop(self) -> None:
        self._queue.put(_STOP)

    def run(self) -> None:
        conn = connect(self._path, readonly=False)
        try:
            while True:
                item = self._queue.get()
                if item is _STOP:
                    return
                batch = [item]
                stopping = False
                while len(batch) < _MAX_BATCH:
                    try:
                        nxt = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if nxt is _STOP:
                        stopping = True
                        break
                    batch.append(nxt)
                self._commit(conn, batch)
                if stopping:
                    return
        finally:
            conn.close()

    def _commit(self, conn: sqlite3.Connection, batch: list[Any]) -> None:
        outcomes: list[Outcome] = []
        tx = SqliteTx(conn)
        try:
            conn.execute("BEGIN IMMEDIATE")
            for fn, missing, future in batch:
                # A savepoint per request: one failing write rolls back alone, not the batch.
                conn.execute("SAVEPOINT request")
                try:
                    value, events = run_now(fn(tx))
                except BaseException as exc:
                    conn.execute("ROLLBACK TO request")
                    conn.execute("RELEASE request")
                    if missing is not None and _foreign_key(exc):
                        exc = missing
                    outcomes.append((future, None, [], exc))
                else:
                    conn.execute("RELEASE request")
                    outcomes.append((future, value, events, None))
            conn.execute("COMMIT")
        except BaseException as exc:
            log.exception("commit failed; rolling back %d writes", len(batch))
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            outcomes = [(future, None, [], exc) for future, *_ in outcomes]
            done = {id(o[0]) for o in outcomes}
            outcomes += [(f, None, [], exc) for *_, f in batch if id(f) not in done]
        self.batches += 1
        self.writes += len(batch)
        self._loop.call_soon_threadsafe(self._deliver, outcomes)

    def _deliver(self, outcomes: list[Outcome]) -> None:
        # Runs on the event loop: events go out in commit order, before any waiter resumes.
        for _future, _value, events, error in outcomes:
            if error is None and events:
                self._bus.publish(events)
        for future, value, _events, error in outcomes:
            if future.cancelled():
                continue
            if error is None:
                future.set_result(value)
            else:
                future.set_exception(error)


class SqliteStore(Store):
    def __init__(self, path: Path, bus: Bus) -> None:
        self.path = path
        self._bus = bus
        self._writer: _Writer | None = None
        self._reader: SqliteTx | None = None

    async def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(migrate.upgrade_sqlite, self.path)
        self._reader = SqliteTx(connect(self.path, readonly=True))
        self._writer = _Writer(self.path, asyncio.get_running_loop(), self._bus)
        self._writer.start()

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.stop()
            await asyncio.to_thread(self._writer.join)
            self._writer = None
        if self._reader is not None:
            self._reader.conn.close()
            self._reader = None

    async def write(self, fn: WriteFn[T], missing: OpencodeError | None = None) -> T:
        assert self._writer is not None, "store is not started"
        # Shielded: a client that disconnects must not cancel a write already queued; it
        # still commits, and its events still go out.
        result: T = await asyncio.shield(self._writer.submit(fn, missing))
        return result

    async def read(self, fn: ReadFn[T]) -> T:
        # Reads run on the event loop thread: they are index lookups that take far less than
        # a thread hop would, and WAL means they never wait for the writer. The transaction
        # makes their statements one snapshot; run_now keeps other reads from interleaving.
        assert self._reader is not None, "store is not started"
        conn = self._reader.conn
        conn.execute("BEGIN")
        try:
            return run_now(fn(self._reader))
        finally:
            conn.execute("COMMIT")

    @property
    def stats(self) -> dict[str, int]:
        w = self._writer
        return {"batches": w.batches, "writes": w.writes} if w else {"batches": 0, "writes": 0}

    async def broadcast(self, events: list[Event]) -> None:
        """One process: the local bus is every bus."""
        self._bus.publish(events)
