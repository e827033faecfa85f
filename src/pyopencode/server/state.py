"""Per-app shared state: settings, the store, the bus, and caches, reachable from routes."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, Request

from pyopencode.bus import SESSION_HEARTBEAT, Bus, Event
from pyopencode.project import Instance
from pyopencode.server.settings import Settings
from pyopencode.store import Store

if TYPE_CHECKING:
    from pyopencode.agent import Runner

# With a shared store, a busy status not refreshed (by the owner's heartbeat) this long is
# dropped: its instance is presumably gone. A few of agent/runner.py's HEARTBEAT_SECONDS.
STATUS_TTL_SECONDS = 20.0
_MAX_DELETED = 4096


@dataclass
class State:
    settings: Settings
    store: Store
    bus: Bus
    instances: dict[str, Instance] = field(default_factory=dict)
    instance_locks: dict[str, asyncio.Lock] = field(default_factory=dict)
    # Sessions with a prompt running, keyed by id; the agent loop fills this in.
    status: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Created on first use by server/routes/prompt.py (the lifespan only builds the basics).
    runner: Runner | None = None
    # With a shared store: when each status entry was last heard of, and recent deletions.
    _status_seen: dict[str, float] = field(default_factory=dict)
    _deleted: OrderedDict[str, None] = field(default_factory=OrderedDict)
    _sweep: asyncio.TimerHandle | None = None

    def __post_init__(self) -> None:
        if self.store.shared:
            # Any instance may run a session's prompt; status reaches all of them as events.
            self.bus.listen(self._track_status)

    def _track_status(self, event: Event) -> None:
        """Keep `status` in step with session.status events from every instance."""
        if event.type == "session.deleted":
            sid = event.properties.get("sessionID")
            if isinstance(sid, str):
                self._forget_status(sid)
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
            self._forget_status(sid)
            return
        self.status[sid] = status
        self._status_seen[sid] = time.monotonic()
        if self._sweep is None:
            self._sweep = asyncio.get_running_loop().call_later(
                STATUS_TTL_SECONDS / 4, self._expire_status
            )

    def _forget_status(self, sid: str) -> None:
        self.status.pop(sid, None)
        self._status_seen.pop(sid, None)

    def _expire_status(self) -> None:
        self._sweep = None
        stale = time.monotonic() - STATUS_TTL_SECONDS
        for sid, seen in list(self._status_seen.items()):
            if seen < stale:
                self._forget_status(sid)
        if self._status_seen:
            self._sweep = asyncio.get_running_loop().call_later(
                STATUS_TTL_SECONDS / 4, self._expire_status
            )

    def agent_runner(self) -> Runner:
        if self.runner is None:
            from pyopencode.agent import Runner

            self.runner = Runner(self.store, self.bus, self.status)
        return self.runner


async def get_state(request: Request) -> State:
    # async on purpose: FastAPI runs plain `def` dependencies in a worker thread per request.
    state: State = request.app.state.pyopencode
    return state


AppState = Annotated[State, Depends(get_state)]


def app_state(request: Request) -> State:
    """The state without a dependency: hot routes take `Request`, which FastAPI injects free."""
    state: State = request.app.state.pyopencode
    return state
