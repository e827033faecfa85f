"""Per-app shared state: settings, the store, the bus, and caches, reachable from routes."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, Request

from pyopencode.bus import Bus
from pyopencode.project import Instance
from pyopencode.server.settings import Settings
from pyopencode.store import Store

if TYPE_CHECKING:
    from pyopencode.agent import Runner


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
