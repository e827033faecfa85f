"""`/mcp`: the instance's MCP servers, their status, run-time additions and (dis)connection."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Path
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from pyopencode.mcp import ServerNotFound, Servers, registry
from pyopencode.mcp.config import LocalConfig, RemoteConfig, ServerConfig
from pyopencode.server.errors import invalid_request
from pyopencode.server.instance import CurrentInstance
from pyopencode.server.json import JsonRoute, json_response, true_response

router = APIRouter(tags=["mcp"], route_class=JsonRoute)

Name = Annotated[str, Path(min_length=1, max_length=256)]


class AddServer(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    name: Annotated[str, Field(min_length=1, max_length=256)]
    config: ServerConfig


class AuthCode(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    code: str


def _not_found(name: str) -> Response:
    return json_response(
        {
            "_tag": "McpServerNotFoundError",
            "name": name,
            "message": f"MCP server not found: {name}",
        },
        404,
    )


async def _servers(directory: str) -> Servers:
    servers = registry().servers(directory)
    await servers.ready()
    return servers


@router.get("/mcp", operation_id="mcp.status")
async def status(instance: CurrentInstance) -> Response:
    """Waits for servers still connecting (each bounded by its `timeout`), as upstream does."""
    servers = await _servers(instance.directory)
    return json_response(servers.status())


@router.post("/mcp", operation_id="mcp.add")
async def add(instance: CurrentInstance, body: Annotated[AddServer, Body()]) -> Response:
    """Held in memory for this instance, like upstream; opencode.json is not rewritten."""
    servers = await _servers(instance.directory)
    await servers.add(body.name, body.config)
    return json_response(servers.status())


@router.post("/mcp/{name}/connect", operation_id="mcp.connect")
async def connect(instance: CurrentInstance, name: Name) -> Response:
    try:
        await (await _servers(instance.directory)).connect(name)
    except ServerNotFound:
        return _not_found(name)
    return true_response()


@router.post("/mcp/{name}/disconnect", operation_id="mcp.disconnect")
async def disconnect(instance: CurrentInstance, name: Name) -> Response:
    try:
        await (await _servers(instance.directory)).disconnect(name)
    except ServerNotFound:
        return _not_found(name)
    return true_response()


def _oauth_refusal(servers: Servers, name: str) -> Response:
    """Why no OAuth flow can start for `name`, as upstream's McpUnsupportedOAuthError."""
    config: LocalConfig | RemoteConfig | None = servers.configs.get(name)
    if not isinstance(config, RemoteConfig) or config.oauth is False:
        return json_response({"error": f"MCP server {name} does not support OAuth"}, 400)
    return json_response(
        {
            "error": f"MCP server {name}: pyopencode does not run OAuth authorization flows; "
            "configure a token in the server's `headers` instead"
        },
        400,
    )


@router.post("/mcp/{name}/auth", operation_id="mcp.auth.start")
async def auth_start(instance: CurrentInstance, name: Name) -> Response:
    servers = await _servers(instance.directory)
    if not servers.known(name):
        return _not_found(name)
    return _oauth_refusal(servers, name)


@router.post("/mcp/{name}/auth/authenticate", operation_id="mcp.auth.authenticate")
async def auth_authenticate(instance: CurrentInstance, name: Name) -> Response:
    servers = await _servers(instance.directory)
    if not servers.known(name):
        return _not_found(name)
    return _oauth_refusal(servers, name)


@router.post("/mcp/{name}/auth/callback", operation_id="mcp.auth.callback")
async def auth_callback(
    instance: CurrentInstance, name: Name, body: Annotated[AuthCode, Body()]
) -> Response:
    servers = await _servers(instance.directory)
    if not servers.known(name):
        return _not_found(name)
    return invalid_request(f"No OAuth flow is in progress for MCP server {name}", "Body", "code")


@router.delete("/mcp/{name}/auth", operation_id="mcp.auth.remove")
async def auth_remove(instance: CurrentInstance, name: Name) -> Response:
    """No OAuth credentials are ever stored, so there are none left to remove."""
    servers = await _servers(instance.directory)
    if not servers.known(name):
        return _not_found(name)
    return json_response({"success": True})
