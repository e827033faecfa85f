"""Embedded SQLite engine: one writer thread that group-commits, reads on their own connection."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any, TypeVar

from pyopencode.bus import Bus, Event
from pyopencode.errors import OpencodeError, StorageFullError, StorageUnavailableError
from pyopencode.store import migrate
from pyopencode.store.base import Deadlines, ReadFn, Row, Store, Tx, WriteFn

log = logging.getLogger("pyopencode.store")

T = TypeVar("T")
_MAX_BATCH = 512
_STOP = object()
Outcome = tuple[asyncio.Future[Any], Any, list[Event], BaseException | None]
# Space held back on a full disk so that deletes can still commit (they grow the WAL first).
RESERVE_BYTES = 4 * 1024 * 1024
_RESERVE_RETRY_S = 30.0
# One log line per kind of storage fault per this many seconds, not a traceback per request.
_FAULT_LOG_S = 10.0
_SQLITE_BUSY, _SQLITE_LOCKED, _SQLITE_IOERR, _SQLITE_FULL = 5, 6, 10, 13


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


def storage_fault(exc: BaseException) -> OpencodeError | None:
    """The typed error a client gets for a fault of the disk or the database file, if it is one."""
    code = getattr(exc, "sqlite_errorcode", None)
    if not isinstance(exc, sqlite3.Error) or code is None:
        return None
    if code & 0xFF == _SQLITE_FULL:
        return StorageFullError(
            "storage full: the disk under the data directory has no space left;"
            " nothing was written. Deleting sessions frees space."
        )
    if code & 0xFF in (_SQLITE_BUSY, _SQLITE_LOCKED):
        return StorageUnavailableError(
            "storage unavailable: the database is locked by another process; nothing was"
            " written. Try again.",
            retry_after=1,
        )
    if code & 0xFF == _SQLITE_IOERR:
        return StorageUnavailableError(
            f"storage unavailable: disk I/O error ({exc}); nothing was written.", retry_after=5
        )
    return None


class Reserve:
    """A file of RESERVE_BYTES beside the database, given up when the disk is full."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.held = False
        self._tried = 0.0

    def hold(self) -> None:
        now = time.monotonic()
        if self.held or now - self._tried < _RESERVE_RETRY_S:
            return
        self._tried = now
        try:
            with open(self.path, "wb") as f:
                os.posix_fallocate(f.fileno(), 0, RESERVE_BYTES)
            self.held = True
        except OSError:
            with contextlib.suppress(OSError):
                self.path.unlink()

    def release(self) -> bool:
        """Give the space back to the disk; False when there was none held."""
        if not self.held:
            return False
        with contextlib.suppress(OSError):
            self.path.unlink()
        self.held = False
        self._tried = time.monotonic()
        return True


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
        self.reserve = Reserve(path.with_name(path.name + ".reserve"))
        self.health = "ok"
        self._logged: dict[str, float] = {}
        self.batches = 0
        self.writes = 0

    def submit(
        self, fn: WriteFn[Any], missing: OpencodeError | None, frees: bool
    ) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = self._loop.create_future()
        self._queue.put((fn, missing, future, frees))
        return future

    def stop(self) -> None:
        self._queue.put(_STOP)

    def run(self) -> None:
        conn = connect(self._path, readonly=False)
        self.reserve.hold()
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
        outcomes = self._attempt(conn, batch)
        full = [i for i, o in enumerate(outcomes) if isinstance(o[3], StorageFullError)]
        # On a full disk, deletes get the reserve: space must be freeable through the API.
        frees = [i for i in full if batch[i][3]]
        if frees and self.reserve.release():
            log.warning(
                "disk full: released the %d-byte reserve so deletes can commit", RESERVE_BYTES
            )
            for i, outcome in zip(
                frees, self._attempt(conn, [batch[i] for i in frees]), strict=True
            ):
                outcomes[i] = outcome
        faults = [
            o[3] for o in outcomes if isinstance(o[3], StorageFullError | StorageUnavailableError)
        ]
        if faults:
            self.health = "full" if isinstance(faults[0], StorageFullError) else "unavailable"
        elif outcomes:
            self.health = "ok"
            self.reserve.hold()
        self.batches += 1
        self.writes += len(batch)
        self._loop.call_soon_threadsafe(self._deliver, outcomes)

    def _attempt(self, conn: sqlite3.Connection, batch: list[Any]) -> list[Outcome]:
        outcomes: list[Outcome] = []
        tx = SqliteTx(conn)
        try:
            conn.execute("BEGIN IMMEDIATE")
            for fn, missing, future, _frees in batch:
                # A savepoint per request: one failing write rolls back alone, not the batch.
                conn.execute("SAVEPOINT request")
                try:
                    value, events = run_now(fn(tx))
                except BaseException as exc:
                    if storage_fault(exc) is not None:
                        raise  # SQLite may have ended the transaction with it: all fail
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
            fault = storage_fault(exc)
            if fault is None:
                log.exception("commit failed; rolling back %d writes", len(batch))
            else:
                self._log_fault(fault)
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            error = fault or exc
            return [(future, None, [], error) for _fn, _missing, future, _frees in batch]
        return outcomes

    def _log_fault(self, fault: OpencodeError) -> None:
        kind = type(fault).__name__
        now = time.monotonic()
        if now - self._logged.get(kind, -_FAULT_LOG_S) >= _FAULT_LOG_S:
            self._logged[kind] = now
            log.warning("%s (repeats are not logged for %.0fs)", fault.message, _FAULT_LOG_S)

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
        self._deadlines = Deadlines()
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

    @property
    def health(self) -> str:
        return self._writer.health if self._writer else "unavailable"

    async def write(
        self, fn: WriteFn[T], missing: OpencodeError | None = None, *, frees: bool = False
    ) -> T:
        assert self._writer is not None, "store is not started"
        # Not shielded: the writer runs what it was handed whether or not anyone still waits
        # for the answer (`_deliver` skips cancelled futures), so a client that disconnects
        # cannot cancel a queued write, and its events still go out.
        future = self._writer.submit(fn, missing, frees)
        return await self._deadlines.answer(future, self.write_timeout)

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
