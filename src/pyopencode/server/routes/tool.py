"""`GET /experimental/tool/ids` and `/experimental/tool`: the tools the agent can call, MCP too."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Query
from starlette.responses import Response

from pyopencode import config, mcp, tool
from pyopencode.agent.agents import get_agent, list_agents
from pyopencode.server.instance import CurrentInstance
from pyopencode.server.json import JsonRoute, json_response

router = APIRouter(tags=["experimental"], route_class=JsonRoute)

_SCHEMA = "https://json-schema.org/draft/2020-12/schema"


async def _tools(directory: str, model_id: str) -> list[dict[str, Any]]:
    cfg = await asyncio.to_thread(config.load, directory)
    agent = get_agent(cfg, str(cfg.get("default_agent") or "build"))
    offered = tool.available(agent, model_id, subagents=list_agents(cfg))
    offered += await mcp.tools_for(agent, directory)
    return [
        {
            "id": t.name,
            "description": t.description,
            "parameters": {"$schema": _SCHEMA, **t.parameters},
        }
        for t in offered
    ]


@router.get("/experimental/tool/ids", operation_id="tool.ids")
async def tool_ids(instance: CurrentInstance) -> Response:
    """The built-in tools, then each connected MCP server's, as `{server}_{tool}`."""
    extra = [t.name for t in await mcp.tools(instance.directory) if t.name not in tool.ALL]
    return json_response([*tool.ALL, *extra])


@router.get("/experimental/tool", operation_id="tool.list")
async def tool_list(
    instance: CurrentInstance,
    provider: Annotated[str, Query(min_length=1, max_length=256)],
    model: Annotated[str, Query(min_length=1, max_length=256)],
) -> Response:
    return json_response(await _tools(instance.directory, model))
