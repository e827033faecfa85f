"""`POST /log`: a client's log entry, written to the server's log."""

from __future__ import annotations

import logging
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Body
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from pyopencode.server.json import JsonRoute, true_response

router = APIRouter(tags=["app"], route_class=JsonRoute)

log = logging.getLogger("pyopencode.client")
# Client entries from info up reach the log whatever the server's own level.
log.setLevel(logging.INFO)

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "error": logging.ERROR,
}


class LogEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    service: str = Field(max_length=256)
    level: Literal["debug", "info", "error", "warn"]
    message: str = Field(max_length=64 * 1024)
    extra: dict[str, Any] | None = None


def _one_line(text: str) -> str:
    # One entry, one line: a client cannot forge further entries with newlines.
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")


@router.post("/log", operation_id="app.log")
async def write_log(body: Annotated[LogEntry, Body()]) -> Response:
    extra = " " + orjson.dumps(body.extra).decode() if body.extra else ""
    log.log(
        _LEVELS[body.level],
        "service=%s %s%s",
        _one_line(body.service),
        _one_line(body.message),
        _one_line(extra),
    )
    return true_response()
