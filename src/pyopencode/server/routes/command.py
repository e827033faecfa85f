"""Slash commands: `GET /command` lists them; `session.command` and `session.init` run one."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Body
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from pyopencode import config
from pyopencode.agent import command as running
from pyopencode.config.command import list_commands
from pyopencode.model.part import FilePartInput
from pyopencode.server.errors import SESSION_ERRORS as ERRORS
from pyopencode.server.instance import CurrentInstance
from pyopencode.server.json import JsonRoute, json_response, true_response
from pyopencode.server.params import SessionID
from pyopencode.server.routes.message import PromptResult
from pyopencode.server.routes.prompt import answer
from pyopencode.server.state import AppState

router = APIRouter(tags=["command"], route_class=JsonRoute)


def _commands(directory: str) -> list[dict[str, object]]:
    return [c.to_json() for c in list_commands(directory, config.load(directory))]


@router.get("/command", operation_id="command.list")
async def commands(instance: CurrentInstance) -> Response:
    return json_response(await asyncio.to_thread(_commands, instance.directory))


class CommandInput(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    messageID: str | None = Field(default=None, pattern=r"^msg")
    agent: str | None = Field(default=None, max_length=256)
    model: str | None = Field(default=None, max_length=512, description="provider/model")
    arguments: str = Field(max_length=1_000_000)
    command: str = Field(max_length=256)
    variant: str | None = None
    parts: list[FilePartInput] | None = None


class InitInput(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    modelID: str = Field(max_length=512)
    providerID: str = Field(max_length=512)
    messageID: str = Field(pattern=r"^msg", max_length=128)


@router.post(
    "/session/{sessionID}/command",
    operation_id="session.command",
    tags=["session"],
    response_model=PromptResult,
    responses=ERRORS,
    description="Send a new command to a session: its template, with `$ARGUMENTS`, `$1`..., "
    "`@file` references and `` !`cmd` `` output filled in, runs as a prompt.",
)
async def run_command(
    state: AppState, sessionID: SessionID, body: Annotated[CommandInput, Body()]
) -> Response:
    session = await state.sessions.get(sessionID)
    fields = await running.prompt_fields(
        session["directory"],
        body.command,
        body.arguments,
        agent=body.agent,
        model=body.model,
        parts=[p.model_dump(exclude_none=True, by_alias=True) for p in body.parts or []],
        message_id=body.messageID,
    )
    if body.variant is not None:
        fields["variant"] = body.variant
    return json_response(await answer(state, session, fields))


@router.post(
    "/session/{sessionID}/init",
    operation_id="session.init",
    tags=["session"],
    response_model=bool,
    responses=ERRORS,
    description="Analyze the app and create or update AGENTS.md (the built-in `init` command);"
    " answers once that prompt has finished.",
)
async def init(
    state: AppState, sessionID: SessionID, body: Annotated[InitInput, Body()]
) -> Response:
    session = await state.sessions.get(sessionID)
    fields = await running.prompt_fields(
        session["directory"],
        "init",
        "",
        model={"providerID": body.providerID, "modelID": body.modelID},
        message_id=body.messageID,
    )
    await answer(state, session, fields)
    return true_response()
