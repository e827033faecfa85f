"""`/experimental/tool` and `/experimental/tool/ids`: the built-in tools and the MCP tools."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.responses import Response

from pyopencode import mcp
from pyopencode import tool as builtin
from pyopencode.server.instance import CurrentInstance
from pyopencode.server.json import JsonRoute, json_response
from pyopencode.tool import Tool

router = APIRouter(tags=["tool"], route_class=JsonRoute)


async def _all(directory: str) -> list[Tool]:
    extra = [t for t in await mcp.tools(directory) if t.name not in builtin.ALL]
    return [*builtin.ALL.values(), *extra]


@router.get("/experimental/tool/ids", operation_id="tool.ids")
async def ids(instance: CurrentInstance) -> Response:
    return json_response([t.name for t in await _all(instance.directory)])


@router.get("/experimental/tool", operation_id="tool.list")
async def tools(
    instance: CurrentInstance,
    provider: Annotated[str, Query(max_length=256)],
    model: Annotated[str, Query(max_length=256)],
) -> Response:
    """The same tools for every model: pyopencode does not vary them by provider."""
    return json_response(
        [
            {"id": t.name, "description": t.description, "parameters": t.parameters}
            for t in await _all(instance.directory)
        ]
    )
