"""`GET /experimental/tool/ids` and `/experimental/tool`: the tools the agent can call."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Query
from starlette.responses import Response

from pyopencode import config, tool
from pyopencode.agent.agents import get_agent, list_agents
from pyopencode.server.instance import CurrentInstance
from pyopencode.server.json import JsonRoute, json_response

router = APIRouter(tags=["experimental"], route_class=JsonRoute)

_SCHEMA = "https://json-schema.org/draft/2020-12/schema"


def _tools(directory: str, model_id: str) -> list[dict[str, Any]]:
    cfg = config.load(directory)
    agent = get_agent(cfg, str(cfg.get("default_agent") or "build"))
    return [
        {
            "id": t.name,
            "description": t.description,
            "parameters": {"$schema": _SCHEMA, **t.parameters},
        }
        for t in tool.available(agent, model_id, subagents=list_agents(cfg))
    ]


@router.get("/experimental/tool/ids", operation_id="tool.ids")
async def tool_ids(instance: CurrentInstance) -> Response:
    return json_response(list(tool.ALL))


@router.get("/experimental/tool", operation_id="tool.list")
async def tool_list(
    instance: CurrentInstance,
    provider: Annotated[str, Query(min_length=1, max_length=256)],
    model: Annotated[str, Query(min_length=1, max_length=256)],
) -> Response:
    return json_response(await asyncio.to_thread(_tools, instance.directory, model))
