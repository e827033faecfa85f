"""`GET /command`: the slash commands of a directory (built-in, configured, markdown, skills)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from starlette.responses import Response

from pyopencode import config
from pyopencode.config.command import list_commands
from pyopencode.server.instance import CurrentInstance
from pyopencode.server.json import JsonRoute, json_response

router = APIRouter(tags=["command"], route_class=JsonRoute)


def _commands(directory: str) -> list[dict[str, object]]:
    return [c.to_json() for c in list_commands(directory, config.load(directory))]


@router.get("/command", operation_id="command.list")
async def commands(instance: CurrentInstance) -> Response:
    return json_response(await asyncio.to_thread(_commands, instance.directory))
