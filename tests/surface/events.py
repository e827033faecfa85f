"""Reads a server's `/event` stream in a background thread, for tests that wait on events."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx
import orjson


class EventLog:
    """Every event `/event` (of one directory) sends, collected until `close`."""

    def __init__(self, base_url: str, params: dict[str, str] | None = None) -> None:
        self.events: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(base_url, params or {}), daemon=True
        )
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the event stream never connected")

    def _run(self, base_url: str, params: dict[str, str]) -> None:
        # No read timeout: the stream ends when the server stops at the end of the test.
        timeout = httpx.Timeout(10, read=None)
        with httpx.stream("GET", f"{base_url}/event", params=params, timeout=timeout) as r:
            lines = r.iter_lines()
            while not self._stop.is_set():
                try:
                    line = next(lines)
                except (httpx.TransportError, StopIteration):
                    return  # the server stopped
                if line.startswith("data: "):
                    event = orjson.loads(line[6:])
                    if event["type"] == "server.connected":
                        self._ready.set()
                    self.events.append(event)

    def wait(self, kind: str, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Every event of type `kind` so far, waiting until there is at least one."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [e for e in self.events if e["type"] == kind]
            if found:
                return found
            time.sleep(0.05)
        raise AssertionError(f"no {kind} event; saw {[e['type'] for e in self.events]}")

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == kind]

    def close(self) -> None:
        self._stop.set()
