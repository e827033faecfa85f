"""Per-app state that routes reach: settings, the session service, the bus and caches."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, Request

from pyopencode.bus import Bus
from pyopencode.permission.client import ClientRequests
from pyopencode.project import Instance
from pyopencode.server.settings import Settings
from pyopencode.session.service import SessionService
from pyopencode.session.status import StatusBoard

if TYPE_CHECKING:
    from pyopencode.agent import Runner


@dataclass
class State:
    settings: Settings
    sessions: SessionService
    bus: Bus
    instances: dict[str, Instance] = field(default_factory=dict)
    instance_locks: dict[str, asyncio.Lock] = field(default_factory=dict)
    board: StatusBoard = field(default_factory=StatusBoard)
    # Created on first use by server/routes/prompt.py (the lifespan only builds the basics).
    runner: Runner | None = None
    # Permission requests raised by clients (v2); created on first use.
    client_permissions: ClientRequests | None = None

    def __post_init__(self) -> None:
        if self.sessions.shared:
            # Any instance may run a session's prompt; status reaches all of them as events.
            self.board.follow(self.bus)

    @property
    def status(self) -> dict[str, dict[str, Any]]:
        """Sessions with a prompt running, keyed by id; the agent loop fills this in."""
        return self.board.status

    def permission_requests(self) -> ClientRequests:
        if self.client_permissions is None:
            self.client_permissions = ClientRequests(self.bus)
        return self.client_permissions

    def agent_runner(self) -> Runner:
        if self.runner is None:
            from pyopencode.agent import Runner

            self.runner = Runner(self.sessions, self.bus, self.status)
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
