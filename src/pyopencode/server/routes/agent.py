"""`GET /agent`: the agents available in a directory."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from starlette.responses import Response

from pyopencode import config
from pyopencode.agent import list_agents
from pyopencode.server.instance import CurrentInstance
from pyopencode.server.json import JsonRoute, json_response

router = APIRouter(tags=["app"], route_class=JsonRoute)


@router.get("/agent", operation_id="app.agents")
async def agents(instance: CurrentInstance) -> Response:
    cfg = await asyncio.to_thread(config.load, instance.directory)
    return json_response([a.to_json() for a in list_agents(cfg)])
