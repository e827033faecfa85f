"""`POST /session/{id}/summarize`: compacts a session's history into a summary."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Body
from pydantic import BaseModel, ConfigDict
from starlette.responses import Response

from pyopencode import config, provider
from pyopencode.agent import compaction
from pyopencode.agent.agents import get_agent
from pyopencode.agent.loop import Turn
from pyopencode.server.errors import SESSION_ERRORS as ERRORS
from pyopencode.server.instance import resolve
from pyopencode.server.json import JsonRoute, true_response
from pyopencode.server.params import SessionID
from pyopencode.server.state import AppState, State
from pyopencode.vocab import Json

router = APIRouter(tags=["session"], route_class=JsonRoute)


class SummarizeInput(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    providerID: str
    modelID: str
    auto: bool | None = None


@router.post(
    "/session/{sessionID}/summarize",
    operation_id="session.summarize",
    response_model=bool,
    responses=ERRORS,
)
async def summarize(
    state: AppState, sessionID: SessionID, body: Annotated[SummarizeInput, Body()]
) -> Response:
    session = await state.sessions.get(sessionID)
    await compact(state, session, (body.providerID, body.modelID), auto=bool(body.auto))
    return true_response()


async def compact(
    state: State, session: Json, model_ids: tuple[str, str] | None, auto: bool = False
) -> None:
    """Summarize the session (queued behind a running prompt) with the model given, else its
    latest or the configured default; `auto` goes on with the session afterwards."""
    sessionID = session["id"]
    cfg = await asyncio.to_thread(config.load, session["directory"])
    if model_ids is None:
        chosen = session.get("model")
        model_ids = (chosen["providerID"], chosen["id"]) if chosen else provider.default_model(cfg)
    model = provider.resolve(cfg, *model_ids)
    instance = await resolve(state, session["directory"])
    runner = state.agent_runner()
    runner.check_room(sessionID)
    turn, parts = await compaction.prepare(session, model, auto=auto, root=instance.worktree)

    async def job() -> Json | None:
        await compaction.store(state.sessions, turn, parts)
        result = await compaction.summarize(runner.runtime, turn)
        if auto and not result["info"].get("error"):
            # As upstream: an automatic compaction goes on with the session's agent.
            agent = get_agent(cfg, session.get("agent") or cfg.get("default_agent") or "build")
            user = await compaction.continue_message(state.sessions, session, agent.name, model)
            follow = Turn(
                session=session,
                user=user,
                agent=agent,
                model=model,
                history_until=user["id"],
                root=instance.worktree,
            )
            await runner.answer(follow)
        return result

    # Queued behind any running prompt, like one; shielded so a hang-up does not cancel it.
    await asyncio.shield(runner.submit(turn, job))
