"""`/experimental/*`: features pyopencode does not have, reported as off or empty."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from pyopencode.server.instance import CurrentInstance
from pyopencode.server.json import JsonRoute, json_response

router = APIRouter(tags=["experimental"], route_class=JsonRoute)


@router.get("/experimental/capabilities", operation_id="experimental.capabilities.get")
async def capabilities(instance: CurrentInstance) -> Response:
    return json_response({"backgroundSubagents": False})


@router.get("/experimental/console", operation_id="experimental.console.get")
async def console(instance: CurrentInstance) -> Response:
    """No OpenCode Console account: no managed providers, no organisations."""
    return json_response({"consoleManagedProviders": [], "switchableOrgCount": 0})


@router.get("/experimental/resource", operation_id="experimental.resource.list")
async def resources(instance: CurrentInstance) -> Response:
    """MCP resources: there are no MCP servers, so none."""
    return json_response({})


@router.get("/experimental/workspace", operation_id="experimental.workspace.list")
async def workspaces(instance: CurrentInstance) -> Response:
    return json_response([])


@router.get("/experimental/workspace/status", operation_id="experimental.workspace.status")
async def workspace_status(instance: CurrentInstance) -> Response:
    return json_response([])
