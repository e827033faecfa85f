"""`/mcp`: the instance's MCP servers, their status, run-time additions and (dis)connection."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Path
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from pyopencode.mcp import OAuthUnavailable, ServerNotFound, Servers, registry
from pyopencode.mcp.config import ServerConfig
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


def _unsupported(exc: OAuthUnavailable) -> Response:
    return json_response({"error": str(exc)}, 400)


@router.post("/mcp/{name}/auth", operation_id="mcp.auth.start")
async def auth_start(instance: CurrentInstance, name: Name) -> Response:
    """Starts the SDK's authorization-code flow; the caller visits the URL it answers."""
    try:
        url, state = await (await _servers(instance.directory)).auth_start(name)
    except ServerNotFound:
        return _not_found(name)
    except OAuthUnavailable as exc:
        return _unsupported(exc)
    return json_response({"authorizationUrl": url, "oauthState": state})


@router.post("/mcp/{name}/auth/authenticate", operation_id="mcp.auth.authenticate")
async def auth_authenticate(instance: CurrentInstance, name: Name) -> Response:
    """Upstream opens a browser on its own machine; a server has none to open."""
    servers = await _servers(instance.directory)
    if not servers.known(name):
        return _not_found(name)
    message = (
        f"MCP server {name}: pyopencode cannot open a browser; start with POST /mcp/{name}/auth, "
        f"visit the authorizationUrl, then send the code to POST /mcp/{name}/auth/callback"
    )
    return _unsupported(OAuthUnavailable(message))


@router.post("/mcp/{name}/auth/callback", operation_id="mcp.auth.callback")
async def auth_callback(
    instance: CurrentInstance, name: Name, body: Annotated[AuthCode, Body()]
) -> Response:
    try:
        status = await (await _servers(instance.directory)).auth_callback(name, body.code)
    except ServerNotFound:
        return _not_found(name)
    except OAuthUnavailable as exc:
        return invalid_request(str(exc), "Body", "code")
    return json_response(status)


@router.delete("/mcp/{name}/auth", operation_id="mcp.auth.remove")
async def auth_remove(instance: CurrentInstance, name: Name) -> Response:
    """Forgets the server's tokens (held in this process's memory only)."""
    try:
        await (await _servers(instance.directory)).auth_remove(name)
    except ServerNotFound:
        return _not_found(name)
    return json_response({"success": True})
