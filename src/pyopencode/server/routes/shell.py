"""`POST /session/{id}/shell`: runs a user's command in the session, as a `bash` tool call."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Body
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from pyopencode import config, provider
from pyopencode.agent import shell
from pyopencode.agent.agents import get_agent
from pyopencode.agent.prompt import choose_model
from pyopencode.errors import SessionBusyError
from pyopencode.model import session as sm
from pyopencode.server.errors import SESSION_ERRORS
from pyopencode.server.instance import resolve
from pyopencode.server.json import JsonRoute, json_response
from pyopencode.server.params import SessionID
from pyopencode.server.routes.message import PromptModel, PromptResult
from pyopencode.server.state import AppState
from pyopencode.vocab import Json

router = APIRouter(tags=["session"], route_class=JsonRoute)

ERRORS: dict[int | str, dict[str, Any]] = {
    **SESSION_ERRORS,
    409: {"model": sm.SessionBusyError},
}


class ShellInput(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    messageID: str | None = Field(default=None, pattern=r"^msg")
    agent: str
    model: PromptModel | None = None
    command: str


@router.post(
    "/session/{sessionID}/shell",
    operation_id="session.shell",
    response_model=PromptResult,
    responses=ERRORS,
)
async def run_shell(
    state: AppState, sessionID: SessionID, body: Annotated[ShellInput, Body()]
) -> Response:
    session = await state.sessions.get(sessionID)
    cfg = await asyncio.to_thread(config.load, session["directory"])
    agent = get_agent(cfg, body.agent)
    asked = (body.model.providerID, body.model.modelID) if body.model else None
    provider_id, model_id = choose_model(asked, agent, session, cfg)
    model = provider.resolve(cfg, provider_id, model_id)
    instance = await resolve(state, session["directory"])
    runner = state.agent_runner()
    # No await from this check to submit: a second command cannot slip in between.
    if runner.owns(sessionID) or sessionID in state.status:
        raise SessionBusyError(sessionID)
    turn, parts = shell.prepare(session, agent, model, instance.worktree, body.messageID)

    async def job() -> Json | None:
        return await shell.run(runner.runtime, turn, parts, body.command)

    result = await asyncio.shield(runner.submit(turn, job))
    return json_response(result)
