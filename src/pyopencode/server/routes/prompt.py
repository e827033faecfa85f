"""Prompting: `POST /session/{id}/message` runs the agent; prompt_async and abort."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path
from starlette.responses import Response

from pyopencode import config, provider
from pyopencode import message as rules
from pyopencode.agent import get_agent
from pyopencode.agent.loop import Turn
from pyopencode.agent.runner import ABORT_WAIT_SECONDS
from pyopencode.bus import SESSION_ABORT, Event
from pyopencode.errors import NotFoundError
from pyopencode.model import session as sm
from pyopencode.server.instance import resolve
from pyopencode.server.json import JsonRoute, json_response, true_response
from pyopencode.server.routes.message import PromptInput, PromptResult
from pyopencode.server.state import AppState, State
from pyopencode.session import now_ms
from pyopencode.snapshot import revert as workspace_revert

router = APIRouter(tags=["session"], route_class=JsonRoute)

SessionID = Annotated[str, Path(pattern=r"^ses", max_length=128)]
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": sm.InvalidRequestError},
    404: {"model": sm.NotFoundError},
}
Json = dict[str, Any]


async def _session(state: State, session_id: str) -> Json:
    session = await state.store.get_session_info(session_id)
    if session is None:
        raise NotFoundError.session(session_id)
    return session


def _remember(info: Json, agent: str, provider_id: str, model_id: str) -> Json:
    info["agent"] = agent
    info["model"] = {"id": model_id, "providerID": provider_id}
    info["time"]["updated"] = now_ms()
    return info


async def _turn(state: State, session: Json, body: PromptInput) -> Turn:
    """Resolves agent and model (400 when none is configured), then stores the user message."""
    cfg = await asyncio.to_thread(config.load, session["directory"])
    agent = get_agent(
        cfg, body.agent or session.get("agent") or cfg.get("default_agent") or "build"
    )
    if body.model is not None:
        provider_id, model_id = body.model.providerID, body.model.modelID
    elif agent.model is not None:
        provider_id, model_id = agent.model
    elif session.get("model"):
        provider_id, model_id = session["model"]["providerID"], session["model"]["id"]
    else:
        provider_id, model_id = provider.default_model(cfg)
    model = provider.resolve(cfg, provider_id, model_id)
    state.agent_runner().check_room(session["id"])
    # Messages a revert set aside are removed for good now (snapshot/revert.py).
    session = await workspace_revert.cleanup(state.store, session)
    # The session remembers the agent and model of its latest prompt, as upstream's does.
    session = await state.store.update_session(
        session["id"], lambda info: _remember(info, agent.name, provider_id, model_id)
    )
    fields = body.model_dump(exclude_none=True, by_alias=True)
    fields["model"] = {"providerID": provider_id, "modelID": model_id}
    fields["agent"] = agent.name
    info, parts = rules.user_message(session, fields)
    # One transaction for the message and its parts: all of it is stored, or none.
    await state.store.update_message(info, parts)
    instance = await resolve(state, session["directory"])
    return Turn(
        session=session,
        user=info,
        agent=agent,
        model=model,
        history_until=info["id"],
        root=instance.worktree,
    )


@router.post(
    "/session/{sessionID}/message",
    operation_id="session.prompt",
    response_model=PromptResult,
    responses=ERRORS,
)
async def prompt(
    state: AppState, sessionID: SessionID, body: Annotated[PromptInput, Body()]
) -> Response:
    session = await _session(state, sessionID)
    if body.noReply:
        info, parts = rules.user_message(session, body.model_dump(exclude_none=True, by_alias=True))
        await state.store.update_message(info, parts)
        return json_response({"info": info, "parts": parts})
    turn = await _turn(state, session, body)
    future = state.agent_runner().submit(turn)
    # Shielded: a client that hangs up does not cancel the prompt for everyone else.
    result = await asyncio.shield(future)
    return json_response(result)


def _retrieve(future: asyncio.Future[Json]) -> None:
    if not future.cancelled():
        future.exception()


@router.post(
    "/session/{sessionID}/prompt_async",
    operation_id="session.prompt_async",
    status_code=204,
    responses=ERRORS,
)
async def prompt_async(
    state: AppState, sessionID: SessionID, body: Annotated[PromptInput, Body()]
) -> Response:
    session = await _session(state, sessionID)
    if body.noReply:
        info, parts = rules.user_message(session, body.model_dump(exclude_none=True, by_alias=True))
        await state.store.update_message(info, parts)
        return Response(status_code=204)
    turn = await _turn(state, session, body)
    state.agent_runner().submit(turn).add_done_callback(_retrieve)
    return Response(status_code=204)


@router.post(
    "/session/{sessionID}/abort",
    operation_id="session.abort",
    response_model=bool,
    responses=ERRORS,
)
async def abort(state: AppState, sessionID: SessionID) -> Response:
    runner = state.runner
    if not state.store.shared:
        if runner is not None:
            await runner.abort(sessionID)
        return true_response()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + ABORT_WAIT_SECONDS
    if runner is not None and runner.owns(sessionID):
        await runner.abort(sessionID)
    else:
        # Perhaps running on another instance: ask whichever runs it.
        await state.store.broadcast([Event(SESSION_ABORT, {"sessionID": sessionID})])
    # Status reaches every instance as events; answer once this one has heard it end.
    while sessionID in state.status and loop.time() < deadline:
        await asyncio.sleep(0.02)
    return true_response()
