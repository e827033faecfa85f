"""`GET /skill`: the skills the `skill` tool can load in a directory."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from starlette.responses import Response

from pyopencode import config
from pyopencode.config.skill import list_skills
from pyopencode.server.instance import CurrentInstance
from pyopencode.server.json import JsonRoute, json_response

router = APIRouter(tags=["app"], route_class=JsonRoute)


def _skills(directory: str) -> list[dict[str, object]]:
    return [s.to_json() for s in list_skills(directory, config.load(directory))]


@router.get("/skill", operation_id="app.skills")
async def skills(instance: CurrentInstance) -> Response:
    return json_response(await asyncio.to_thread(_skills, instance.directory))
