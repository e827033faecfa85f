"""Recorded request/response history and the HTTP client wrapper that records every call."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import httpx
import orjson

# Our server caps `limit` at 10 000 (400 above); upstream takes any value. A list that comes back
# exactly this long may be truncated, so the checker does not read absence from it.
LIST_LIMIT = 10_000
# Response bodies up to this size are kept verbatim in the history.
BODY_LIMIT = 2048
_JSON_HEADERS = {"content-type": "application/json"}


@dataclass
class Entry:
    """One request and its response (or the transport error that replaced it)."""

    seq: int
    workload: str
    op: str
    method: str
    path: str
    start: float
    end: float = 0.0
    status: int | None = None
    error: str | None = None
    params: dict[str, Any] | None = None
    request: Any = None
    # The session the request targets; for a create, the id the server assigned.
    session: str | None = None
    # For a create: the parentID that was sent.
    parent: str | None = None
    # Sessions a list/children/get answer showed, id -> title (only this run's sessions).
    seen: dict[str, str] | None = None
    # How many items a list/children/messages answer held, ours or not.
    count: int | None = None
    limit: int | None = None
    # Message ids a messages answer held, or the one a prompt created.
    messages: list[str] | None = None
    body: Any = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def complete(self) -> bool:
        """Whether a list answer can be trusted to hold every matching session."""
        return self.count is not None and (self.limit is None or self.count != self.limit)

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Entry:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    def describe(self) -> str:
        """One line: sequence number, time window, request and response."""
        query = ""
        if self.params:
            query = "?" + "&".join(f"{k}={v}" for k, v in self.params.items())
        sent = f" {orjson.dumps(self.request).decode()}" if self.request is not None else ""
        if self.status is None:
            answer = f"transport error: {self.error}"
        elif self.body is not None:
            answer = f"{self.status} {orjson.dumps(self.body).decode()[:300]}"
        elif self.seen is not None:
            answer = f"{self.status} ({self.count} items, {len(self.seen)} of this run's)"
        else:
            answer = str(self.status)
        return (
            f"#{self.seq} [{self.start:.6f}s -> {self.end:.6f}s] "
            f"{self.method} {self.path}{query}{sent} -> {answer}"
        )


class History:
    """Every request a run made, in the order they were sent, on one monotonic clock."""

    def __init__(self) -> None:
        self._t0 = time.monotonic()
        self.entries: list[Entry] = []

    def now(self) -> float:
        return time.monotonic() - self._t0

    def begin(self, workload: str, op: str, method: str, path: str, **extra: Any) -> Entry:
        entry = Entry(len(self.entries), workload, op, method, path, start=self.now(), **extra)
        self.entries.append(entry)
        return entry

    def of(self, workload: str) -> list[Entry]:
        return [e for e in self.entries if e.workload == workload]

    def write_jsonl(self, path: Path) -> None:
        with path.open("wb") as out:
            for entry in self.entries:
                out.write(orjson.dumps(entry.to_json()) + b"\n")

    @staticmethod
    def read_jsonl(path: Path) -> list[Entry]:
        lines = path.read_bytes().splitlines()
        return [Entry.from_json(orjson.loads(line)) for line in lines if line.strip()]


@dataclass
class RecordingClient:
    """The calls a check makes, each recorded in the history with its outcome."""

    http: httpx.AsyncClient
    history: History
    prefix: str
    workload: str = ""
    on_request: Callable[[], None] | None = None
    # Ids this run created (or found under its own unique title prefix); the only ids it deletes.
    owned: set[str] = field(default_factory=set)

    def title(self, text: str) -> str:
        return f"{self.prefix} {text}"

    def is_ours(self, title: object) -> bool:
        return isinstance(title, str) and title.startswith(self.prefix + " ")

    def adopt(self, session_id: str, title: object) -> None:
        if self.is_ours(title):
            self.owned.add(session_id)

    async def _send(
        self,
        op: str,
        method: str,
        path: str,
        *,
        session: str | None = None,
        params: dict[str, Any] | None = None,
        json: Any = None,
    ) -> tuple[Entry, Any]:
        entry = self.history.begin(
            self.workload, op, method, path, session=session, params=params, request=json
        )
        content = None if json is None else orjson.dumps(json)
        headers = None if json is None else _JSON_HEADERS
        try:
            response = await self.http.request(
                method, path, params=params, content=content, headers=headers
            )
        except asyncio.CancelledError:
            entry.end, entry.error = self.history.now(), "cancelled"
            raise
        except httpx.HTTPError as exc:
            entry.end, entry.error = self.history.now(), f"{type(exc).__name__}: {exc}"
            self._tick()
            return entry, None
        entry.end = self.history.now()
        entry.status = response.status_code
        self._tick()
        try:
            data = orjson.loads(response.content) if response.content else None
        except orjson.JSONDecodeError:
            data = None
            if len(response.content) <= BODY_LIMIT:
                entry.body = response.text
        if data is not None and len(response.content) <= BODY_LIMIT:
            entry.body = data
        return entry, data

    def _tick(self) -> None:
        if self.on_request is not None:
            self.on_request()

    def _see(self, entry: Entry, items: Iterable[Any]) -> None:
        seen: dict[str, str] = {}
        count = 0
        for item in items:
            count += 1
            if isinstance(item, dict) and (
                item.get("id") in self.owned or self.is_ours(item.get("title"))
            ):
                seen[str(item["id"])] = str(item.get("title"))
        entry.seen, entry.count = seen, count

    async def create(self, title: str, parent: str | None = None) -> Entry:
        body: dict[str, Any] = {"title": title}
        if parent is not None:
            body["parentID"] = parent
        entry, data = await self._send("create", "POST", "/session", json=body)
        entry.parent = parent
        if entry.ok and isinstance(data, dict) and isinstance(data.get("id"), str):
            entry.session = data["id"]
            self.owned.add(data["id"])
        return entry

    async def list(self, search: str | None = None) -> Entry:
        # `search` narrows the answer to this run's titles on servers that support it; servers
        # that ignore it (1.0.x) answer everything, which is still correct, only larger.
        params: dict[str, Any] = {"limit": LIST_LIMIT, "search": search or self.prefix}
        entry, data = await self._send("list", "GET", "/session", params=params)
        entry.limit = LIST_LIMIT
        entry.body = None
        if entry.ok and isinstance(data, list):
            self._see(entry, data)
        return entry

    async def get(self, session_id: str) -> Entry:
        entry, data = await self._send("get", "GET", f"/session/{session_id}", session=session_id)
        if entry.ok and isinstance(data, dict):
            entry.seen = {session_id: str(data.get("title"))}
        return entry

    async def patch(self, session_id: str, title: str) -> Entry:
        entry, _ = await self._send(
            "patch", "PATCH", f"/session/{session_id}", session=session_id, json={"title": title}
        )
        return entry

    async def delete(self, session_id: str) -> Entry:
        if session_id not in self.owned:
            raise PermissionError(f"refusing to delete {session_id}: this run did not create it")
        entry, _ = await self._send(
            "delete", "DELETE", f"/session/{session_id}", session=session_id
        )
        return entry

    async def children(self, session_id: str) -> Entry:
        entry, data = await self._send(
            "children", "GET", f"/session/{session_id}/children", session=session_id
        )
        if entry.ok and isinstance(data, list):
            self._see(entry, data)
        return entry

    async def messages(self, session_id: str) -> Entry:
        entry, data = await self._send(
            "messages", "GET", f"/session/{session_id}/message", session=session_id
        )
        if entry.ok and isinstance(data, list):
            entry.count = len(data)
            entry.messages = [
                str(m["info"].get("id"))
                for m in data
                if isinstance(m, dict) and isinstance(m.get("info"), dict)
            ]
        return entry

    async def prompt(self, session_id: str, text: str) -> Entry:
        body = {"noReply": True, "parts": [{"type": "text", "text": text}]}
        entry, data = await self._send(
            "prompt", "POST", f"/session/{session_id}/message", session=session_id, json=body
        )
        if entry.ok and isinstance(data, dict) and isinstance(data.get("info"), dict):
            entry.messages = [str(data["info"].get("id"))]
        return entry
