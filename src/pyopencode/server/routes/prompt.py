"""Prompting: `POST /session/{id}/message` runs the agent; prompt_async and abort."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Body
from starlette.responses import Response

from pyopencode import futures
from pyopencode import message as rules
from pyopencode.agent import prompt as prompting
from pyopencode.agent.loop import Turn
from pyopencode.agent.runner import ABORT_WAIT_SECONDS
from pyopencode.bus import SESSION_ABORT, Event
from pyopencode.server.errors import SESSION_ERRORS as ERRORS
from pyopencode.server.instance import resolve
from pyopencode.server.json import JsonRoute, json_response, true_response
from pyopencode.server.params import SessionID
from pyopencode.server.routes.message import PromptInput, PromptResult
from pyopencode.server.state import AppState, State
from pyopencode.snapshot import revert as workspace_revert
from pyopencode.vocab import Json

router = APIRouter(tags=["session"], route_class=JsonRoute)


async def _turn(state: State, session: Json, body: PromptInput | Json) -> Turn:
    fields = body if isinstance(body, dict) else body.model_dump(exclude_none=True, by_alias=True)
    instance = await resolve(state, session["directory"])
    turn = await prompting.start(
        state.sessions, state.agent_runner(), session, fields, instance.worktree
    )
    # Messages a revert set aside are removed for good now (snapshot/revert.py).
    await workspace_revert.cleanup(state.sessions, turn.session, before=turn.user["id"])
    return turn


async def _store_only(state: State, session: Json, body: PromptInput) -> Json:
    """A `noReply` prompt: the user message is stored and nothing answers it."""
    info, parts = rules.user_message(session, body.model_dump(exclude_none=True, by_alias=True))
    await state.sessions.update_message(info, parts)
    return {"info": info, "parts": parts}


@router.post(
    "/session/{sessionID}/message",
    operation_id="session.prompt",
    response_model=PromptResult,
    responses=ERRORS,
)
async def prompt(
    state: AppState, sessionID: SessionID, body: Annotated[PromptInput, Body()]
) -> Response:
    session = await state.sessions.get(sessionID)
    if body.noReply:
        return json_response(await _store_only(state, session, body))
    turn = await _turn(state, session, body)
    future = state.agent_runner().submit(turn)
    # Shielded: a client that hangs up does not cancel the prompt for everyone else.
    result = await asyncio.shield(future)
    return json_response(result)


async def answer(state: State, session: Json, fields: Json) -> Json:
    """Run a prompt given as a body's fields and wait for its final assistant message."""
    turn = await _turn(state, session, fields)
    # Shielded: a client that hangs up does not cancel the prompt for everyone else.
    return await asyncio.shield(state.agent_runner().submit(turn))


@router.post(
    "/session/{sessionID}/prompt_async",
    operation_id="session.prompt_async",
    status_code=204,
    responses=ERRORS,
)
async def prompt_async(
    state: AppState, sessionID: SessionID, body: Annotated[PromptInput, Body()]
) -> Response:
    session = await state.sessions.get(sessionID)
    if body.noReply:
        await _store_only(state, session, body)
        return Response(status_code=204)
    turn = await _turn(state, session, body)
    state.agent_runner().submit(turn).add_done_callback(futures.retrieve)
    return Response(status_code=204)


@router.post(
    "/session/{sessionID}/abort",
    operation_id="session.abort",
    response_model=bool,
    responses=ERRORS,
)
async def abort(state: AppState, sessionID: SessionID) -> Response:
    runner = state.runner
    if not state.sessions.shared:
        if runner is not None:
            await runner.abort(sessionID)
        return true_response()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + ABORT_WAIT_SECONDS
    if runner is not None and runner.owns(sessionID):
        await runner.abort(sessionID)
    else:
        # Perhaps running on another instance: ask whichever runs it.
        await state.sessions.broadcast([Event(SESSION_ABORT, {"sessionID": sessionID})])
    # Status reaches every instance as events; answer once this one has heard it end.
    while sessionID in state.status and loop.time() < deadline:
        await asyncio.sleep(0.02)
    return true_response()
