"""`/tui/*`: publish the `tui.*` events an attached OpenCode UI acts on, and its control queue."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from pyopencode import tui
from pyopencode.bus import Event
from pyopencode.project import Instance
from pyopencode.server.instance import CurrentInstance
from pyopencode.server.json import JsonRoute, json_response, true_response
from pyopencode.server.state import AppState, State

router = APIRouter(tags=["tui"], route_class=JsonRoute)

_TEXT = 1024 * 1024


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class AppendPrompt(Strict):
    text: str = Field(max_length=_TEXT)


class ExecuteCommand(Strict):
    command: str = Field(max_length=256)


class ShowToast(Strict):
    title: str | None = Field(default=None, max_length=4096)
    message: str = Field(max_length=_TEXT)
    variant: Literal["info", "success", "warning", "error"]
    duration: int | None = Field(default=None, gt=0, le=24 * 3600 * 1000)


class SelectSession(Strict):
    sessionID: str = Field(pattern="^ses", max_length=128)


class PromptAppendEvent(Strict):
    type: Literal["tui.prompt.append"]
    properties: AppendPrompt


class CommandExecuteEvent(Strict):
    type: Literal["tui.command.execute"]
    properties: ExecuteCommand


class ToastShowEvent(Strict):
    type: Literal["tui.toast.show"]
    properties: ShowToast


class SessionSelectEvent(Strict):
    type: Literal["tui.session.select"]
    properties: SelectSession


TuiEvent = Annotated[
    PromptAppendEvent | CommandExecuteEvent | ToastShowEvent | SessionSelectEvent,
    Field(discriminator="type"),
]


def control(request: Request) -> tui.ControlQueue:
    queue: tui.ControlQueue = request.app.state.tui_control
    return queue


async def _publish(state: State, instance: Instance, kind: str, properties: dict[str, Any]) -> None:
    event = Event(kind, properties, directory=instance.directory, project=instance.project_id)
    # Through the store: on PostgreSQL the UI may be attached to another instance.
    await state.sessions.broadcast([event])


def _toast(body: ShowToast) -> dict[str, Any]:
    out = body.model_dump(exclude_none=True)
    out.setdefault("duration", tui.DEFAULT_TOAST_MS)
    return out


@router.post("/tui/append-prompt", operation_id="tui.appendPrompt")
async def append_prompt(
    state: AppState, instance: CurrentInstance, body: Annotated[AppendPrompt, Body()]
) -> Response:
    await _publish(state, instance, "tui.prompt.append", {"text": body.text})
    return true_response()


def _command_route(route: str, operation: str) -> None:
    async def handler(state: AppState, instance: CurrentInstance) -> Response:
        await _publish(
            state, instance, "tui.command.execute", {"command": tui.ROUTE_COMMANDS[route]}
        )
        return true_response()

    router.add_api_route(
        f"/tui/{route}",
        handler,
        methods=["POST"],
        operation_id=operation,
        description=f"Publishes `tui.command.execute` with `{tui.ROUTE_COMMANDS[route]}`.",
    )


for _route, _operation in (
    ("open-help", "tui.openHelp"),
    ("open-sessions", "tui.openSessions"),
    ("open-themes", "tui.openThemes"),
    ("open-models", "tui.openModels"),
    ("submit-prompt", "tui.submitPrompt"),
    ("clear-prompt", "tui.clearPrompt"),
):
    _command_route(_route, _operation)


@router.post("/tui/execute-command", operation_id="tui.executeCommand")
async def execute_command(
    state: AppState, instance: CurrentInstance, body: Annotated[ExecuteCommand, Body()]
) -> Response:
    await _publish(state, instance, "tui.command.execute", {"command": tui.command(body.command)})
    return true_response()


@router.post("/tui/show-toast", operation_id="tui.showToast")
async def show_toast(
    state: AppState, instance: CurrentInstance, body: Annotated[ShowToast, Body()]
) -> Response:
    await _publish(state, instance, "tui.toast.show", _toast(body))
    return true_response()


@router.post("/tui/publish", operation_id="tui.publish")
async def publish(
    state: AppState, instance: CurrentInstance, body: Annotated[TuiEvent, Body()]
) -> Response:
    properties = body.properties
    if isinstance(properties, ShowToast):
        payload = _toast(properties)
    else:
        payload = properties.model_dump(exclude_none=True)
    await _publish(state, instance, body.type, payload)
    return true_response()


@router.post("/tui/select-session", operation_id="tui.selectSession")
async def select_session(
    state: AppState, instance: CurrentInstance, body: Annotated[SelectSession, Body()]
) -> Response:
    await state.sessions.get(body.sessionID)  # NotFoundError when there is no such session
    await _publish(state, instance, "tui.session.select", {"sessionID": body.sessionID})
    return true_response()


@router.get(
    "/tui/control/next",
    operation_id="tui.control.next",
    description="Waits for the next request queued for the UI and answers it as {path, body}.",
)
async def control_next(request: Request, instance: CurrentInstance) -> Response:
    return json_response(await control(request).next())


@router.post("/tui/control/response", operation_id="tui.control.response")
async def control_response(
    request: Request, instance: CurrentInstance, body: Annotated[Any, Body()] = None
) -> Response:
    control(request).respond(body)
    return true_response()
