"""`/pty*` and `/api/pty*`: terminals, and the WebSocket that streams one."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Body, Depends, Path, Request, WebSocket
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response
from starlette.websockets import WebSocketDisconnect

from pyopencode import pty
from pyopencode.errors import BadRequestError
from pyopencode.project import Instance
from pyopencode.server.instance import CurrentInstance
from pyopencode.server.json import JsonRoute, json_response, true_response
from pyopencode.server.routes.tui import Location, _location_json

router = APIRouter(tags=["pty"], route_class=JsonRoute)

Json = dict[str, Any]
PtyID = Annotated[str, Path(pattern="^pty", max_length=128)]
# Set by server/auth.py on a WebSocket that brought a ticket instead of credentials.
TICKET_ONLY = "pyopencode.ticket_only"
_MAX_TEXT = 4096
_MAX_INPUT = 1024 * 1024


class CreateInput(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    command: str | None = Field(default=None, max_length=_MAX_TEXT)
    args: list[Annotated[str, Field(max_length=_MAX_TEXT)]] | None = Field(
        default=None, max_length=256
    )
    cwd: str | None = Field(default=None, max_length=_MAX_TEXT)
    title: str | None = Field(default=None, max_length=_MAX_TEXT)
    env: dict[str, Annotated[str, Field(max_length=_MAX_TEXT * 8)]] | None = Field(
        default=None, max_length=256
    )


class Size(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    rows: int = Field(gt=0, le=10_000)
    cols: int = Field(gt=0, le=10_000)


class UpdateInput(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    title: str | None = Field(default=None, max_length=_MAX_TEXT)
    size: Size | None = None


def terminals(request: Request) -> pty.Terminals:
    found: pty.Terminals = request.app.state.terminals
    return found


Terminals = Annotated[pty.Terminals, Depends(terminals)]


def _not_found(exc: pty.PtyNotFoundError) -> Response:
    return json_response(
        {"_tag": "PtyNotFoundError", "ptyID": exc.pty_id, "message": exc.message}, 404
    )


def _create(ptys: pty.Terminals, instance: Instance, body: CreateInput) -> pty.Terminal:
    return ptys.create(
        instance.directory,
        instance.project_id,
        body.command,
        body.args,
        body.cwd,
        body.title,
        body.env,
    )


def _size(body: UpdateInput) -> tuple[int, int] | None:
    return (body.size.rows, body.size.cols) if body.size else None


@router.get("/pty/shells", operation_id="pty.shells")
async def list_shells(instance: CurrentInstance) -> Response:
    return json_response(await asyncio.to_thread(pty.shells))


@router.get("/pty", operation_id="pty.list")
async def list_ptys(instance: CurrentInstance, ptys: Terminals) -> Response:
    return json_response([t.info() for t in ptys.all()])


@router.post("/pty", operation_id="pty.create")
async def create_pty(
    instance: CurrentInstance, ptys: Terminals, body: Annotated[CreateInput | None, Body()] = None
) -> Response:
    return json_response(_create(ptys, instance, body or CreateInput()).info())


@router.get("/pty/{ptyID}", operation_id="pty.get")
async def get_pty(instance: CurrentInstance, ptys: Terminals, ptyID: PtyID) -> Response:
    try:
        return json_response(ptys.get(ptyID).info())
    except pty.PtyNotFoundError as exc:
        return _not_found(exc)


@router.put("/pty/{ptyID}", operation_id="pty.update")
async def update_pty(
    instance: CurrentInstance,
    ptys: Terminals,
    ptyID: PtyID,
    body: Annotated[UpdateInput, Body()],
) -> Response:
    try:
        return json_response(ptys.update(ptyID, body.title, _size(body)).info())
    except pty.PtyNotFoundError as exc:
        return _not_found(exc)


@router.delete("/pty/{ptyID}", operation_id="pty.remove")
async def remove_pty(instance: CurrentInstance, ptys: Terminals, ptyID: PtyID) -> Response:
    try:
        await ptys.remove(ptyID)
    except pty.PtyNotFoundError as exc:
        return _not_found(exc)
    return true_response()


@router.post("/pty/{ptyID}/connect-token", operation_id="pty.connectToken")
async def connect_token(instance: CurrentInstance, ptys: Terminals, ptyID: PtyID) -> Response:
    try:
        ticket, expires = ptys.ticket(ptyID)
    except pty.PtyNotFoundError as exc:
        return _not_found(exc)
    return json_response({"ticket": ticket, "expires_in": expires})


_UPGRADE = (
    "Establishes a WebSocket connection to a terminal. Text frames from the client are "
    "typed into the terminal; the server first replays the kept output from `cursor` (all of "
    "it when absent), then sends a binary frame 0x00 + JSON `{cursor}`, then live output as "
    "text frames. A plain GET without the WebSocket upgrade answers 400."
)


@router.get("/pty/{ptyID}/connect", operation_id="pty.connect", description=_UPGRADE)
async def connect_http(instance: CurrentInstance, ptys: Terminals, ptyID: PtyID) -> Response:
    try:
        ptys.get(ptyID)
    except pty.PtyNotFoundError as exc:
        return _not_found(exc)
    raise BadRequestError("This operation needs a WebSocket upgrade", kind="Headers")


# v2: the same terminals, answered as {location, data}.


def _v2(instance: Instance, data: Any) -> Response:
    return json_response({"location": _location_json(instance), "data": data})


@router.get("/api/pty", operation_id="v2.pty.list")
async def v2_list(instance: Location, ptys: Terminals) -> Response:
    return _v2(instance, [t.info() for t in ptys.all()])


@router.post("/api/pty", operation_id="v2.pty.create")
async def v2_create(
    instance: Location, ptys: Terminals, body: Annotated[CreateInput, Body()]
) -> Response:
    return _v2(instance, _create(ptys, instance, body).info())


@router.get("/api/pty/{ptyID}", operation_id="v2.pty.get")
async def v2_get(instance: Location, ptys: Terminals, ptyID: PtyID) -> Response:
    try:
        return _v2(instance, ptys.get(ptyID).info())
    except pty.PtyNotFoundError as exc:
        return _not_found(exc)


@router.put("/api/pty/{ptyID}", operation_id="v2.pty.update")
async def v2_update(
    instance: Location, ptys: Terminals, ptyID: PtyID, body: Annotated[UpdateInput, Body()]
) -> Response:
    try:
        return _v2(instance, ptys.update(ptyID, body.title, _size(body)).info())
    except pty.PtyNotFoundError as exc:
        return _not_found(exc)


@router.delete("/api/pty/{ptyID}", operation_id="v2.pty.remove", status_code=204)
async def v2_remove(instance: Location, ptys: Terminals, ptyID: PtyID) -> Response:
    try:
        await ptys.remove(ptyID)
    except pty.PtyNotFoundError as exc:
        return _not_found(exc)
    return Response(status_code=204)


@router.post("/api/pty/{ptyID}/connect-token", operation_id="v2.pty.connectToken")
async def v2_connect_token(instance: Location, ptys: Terminals, ptyID: PtyID) -> Response:
    try:
        ticket, expires = ptys.ticket(ptyID)
    except pty.PtyNotFoundError as exc:
        return _not_found(exc)
    return _v2(instance, {"ticket": ticket, "expires_in": expires})


@router.get("/api/pty/{ptyID}/connect", operation_id="v2.pty.connect", description=_UPGRADE)
async def v2_connect_http(instance: Location, ptys: Terminals, ptyID: PtyID) -> Response:
    try:
        ptys.get(ptyID)
    except pty.PtyNotFoundError as exc:
        return _not_found(exc)
    raise BadRequestError("This operation needs a WebSocket upgrade", kind="Headers")


def _cursor(raw: str | None) -> int | None:
    if raw is None or raw == "":
        return None
    try:
        value = int(raw)
    except ValueError:
        return None
    return value if value >= 0 else None


async def _stream(websocket: WebSocket, ptyID: str) -> None:
    ptys: pty.Terminals = websocket.app.state.terminals
    ticket = websocket.query_params.get("ticket")
    if ticket is not None and not ptys.redeem(ticket, ptyID):
        await websocket.close(code=1008, reason="Invalid or expired ticket")
        return
    if ticket is None and websocket.scope.get(TICKET_ONLY):
        await websocket.close(code=1008, reason="Authentication required")
        return
    try:
        term = ptys.get(ptyID)
    except pty.PtyNotFoundError:
        await websocket.close(code=4404, reason="PTY session not found")
        return
    await websocket.accept()
    # Watch before the replay: output that arrives meanwhile is queued, not lost.
    queue = term.watch()
    replay = term.since(_cursor(websocket.query_params.get("cursor")))
    cursor = term.cursor
    if replay:
        await websocket.send_text(replay)
    await websocket.send_bytes(b"\x00" + orjson.dumps({"cursor": cursor}))

    async def pump_out() -> None:
        while (text := await queue.get()) is not None:
            await websocket.send_text(text)

    async def pump_in() -> None:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            data = message.get("text")
            if data is None and message.get("bytes") is not None:
                data = message["bytes"].decode(errors="replace")
            if data and len(data) <= _MAX_INPUT:
                term.write(data)

    tasks = [asyncio.create_task(pump_out()), asyncio.create_task(pump_in())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    except WebSocketDisconnect:
        pass
    finally:
        term.unwatch(queue)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, RuntimeError):
                await task
        with contextlib.suppress(RuntimeError, WebSocketDisconnect):
            await websocket.close()


@router.websocket("/pty/{ptyID}/connect")
async def connect(websocket: WebSocket, ptyID: str) -> None:
    await _stream(websocket, ptyID)


@router.websocket("/api/pty/{ptyID}/connect")
async def v2_connect(websocket: WebSocket, ptyID: str) -> None:
    await _stream(websocket, ptyID)
