"""Which sessions are busy, as every instance hears it: `GET /session/status` reads this board."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict

from pyopencode.bus import SESSION_HEARTBEAT, Bus, Event
from pyopencode.vocab import Json

# With a shared store, a busy status not refreshed (by the owner's heartbeat) this long is
# dropped: its instance is presumably gone. A few of agent/runner.py's HEARTBEAT_SECONDS.
STATUS_TTL_SECONDS = 20.0
_MAX_DELETED = 4096


class StatusBoard:
    """Session id -> status of every session with a prompt running.

    One process: the agent runner fills `status` in directly. Several instances on one store:
    status travels as events, each entry expires unless its owner's heartbeat renews it, and a
    deleted session's late status is ignored.
    """

    def __init__(self) -> None:
        self.status: dict[str, Json] = {}
        self._seen: dict[str, float] = {}
        self._deleted: OrderedDict[str, None] = OrderedDict()
        self._sweep: asyncio.TimerHandle | None = None

    def follow(self, bus: Bus) -> None:
        bus.listen(self._track)

    def _track(self, event: Event) -> None:
        if event.type == "session.deleted":
            sid = event.properties.get("sessionID")
            if isinstance(sid, str):
                self._forget(sid)
                self._deleted[sid] = None
                if len(self._deleted) > _MAX_DELETED:
                    self._deleted.popitem(last=False)
            return
        if event.type not in ("session.status", SESSION_HEARTBEAT):
            return
        sid, status = event.properties.get("sessionID"), event.properties.get("status")
        if not isinstance(sid, str) or not isinstance(status, dict) or sid in self._deleted:
            return
        if status.get("type") == "idle":
            self._forget(sid)
            return
        self.status[sid] = status
        self._seen[sid] = time.monotonic()
        if self._sweep is None:
            self._sweep = asyncio.get_running_loop().call_later(
                STATUS_TTL_SECONDS / 4, self._expire
            )

    def _forget(self, sid: str) -> None:
        self.status.pop(sid, None)
        self._seen.pop(sid, None)

    def _expire(self) -> None:
        self._sweep = None
        stale = time.monotonic() - STATUS_TTL_SECONDS
        for sid, seen in list(self._seen.items()):
            if seen < stale:
                self._forget(sid)
        if self._seen:
            self._sweep = asyncio.get_running_loop().call_later(
                STATUS_TTL_SECONDS / 4, self._expire
            )
