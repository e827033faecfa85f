"""A real MCP server for tests, written with the `mcp` SDK: stdio by default, or `--http`."""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import secrets
import socket
import sys
import time

# Recorded before the slow imports, so a test sees every process that was started.
if os.environ.get("MCP_FIXTURE_PIDFILE"):
    with open(os.environ["MCP_FIXTURE_PIDFILE"], "a") as _f:
        _f.write(f"{os.getpid()}\n")

import uvicorn
from mcp.server.auth.provider import (
    AccessToken,
    AuthorizationCode,
    AuthorizationParams,
    RefreshToken,
    construct_redirect_uri,
)
from mcp.server.auth.settings import AuthSettings, ClientRegistrationOptions
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.shared.auth import OAuthClientInformationFull, OAuthToken
from mcp.types import ImageContent, TextContent
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

# A 1x1 transparent PNG.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
)

server = MCPServer("fixture", log_level="ERROR")


class Approving:
    """An authorization server that approves every request at once, for the OAuth flow test."""

    def __init__(self) -> None:
        self.clients: dict[str, OAuthClientInformationFull] = {}
        self.codes: dict[str, AuthorizationCode] = {}
        self.tokens: dict[str, AccessToken] = {}

    async def get_client(self, client_id: str) -> OAuthClientInformationFull | None:
        return self.clients.get(client_id)

    async def register_client(self, client_info: OAuthClientInformationFull) -> None:
        assert client_info.client_id is not None
        self.clients[client_info.client_id] = client_info

    async def authorize(
        self, client: OAuthClientInformationFull, params: AuthorizationParams
    ) -> str:
        code = secrets.token_hex(16)
        self.codes[code] = AuthorizationCode(
            code=code,
            scopes=params.scopes or [],
            expires_at=time.time() + 300,
            client_id=client.client_id or "",
            code_challenge=params.code_challenge,
            redirect_uri=params.redirect_uri,
            redirect_uri_provided_explicitly=params.redirect_uri_provided_explicitly,
            resource=params.resource,
        )
        return construct_redirect_uri(str(params.redirect_uri), code=code, state=params.state)

    async def load_authorization_code(
        self, client: OAuthClientInformationFull, authorization_code: str
    ) -> AuthorizationCode | None:
        return self.codes.get(authorization_code)

    async def exchange_authorization_code(
        self, client: OAuthClientInformationFull, authorization_code: AuthorizationCode
    ) -> OAuthToken:
        self.codes.pop(authorization_code.code, None)
        token = secrets.token_hex(16)
        self.tokens[token] = AccessToken(
            token=token,
            client_id=client.client_id or "",
            scopes=authorization_code.scopes,
            resource=authorization_code.resource,
        )
        return OAuthToken(access_token=token, token_type="Bearer", expires_in=3600)

    async def load_refresh_token(
        self, client: OAuthClientInformationFull, refresh_token: str
    ) -> RefreshToken | None:
        return None

    async def exchange_refresh_token(
        self, client: OAuthClientInformationFull, refresh_token: RefreshToken, scopes: list[str]
    ) -> OAuthToken:
        raise NotImplementedError

    async def load_access_token(self, token: str) -> AccessToken | None:
        return self.tokens.get(token)

    async def revoke_token(self, token: AccessToken | RefreshToken) -> None:
        self.tokens.pop(token.token, None)


@server.tool(description="Echo the text back, upper-cased.")
def echo(text: str) -> str:
    return f"ECHO: {text.upper()}"


@server.tool(description="Always fails with the given reason.")
def explode(reason: str) -> str:
    raise ToolError(f"exploded: {reason}")


@server.tool(description="Returns a caption and a small image.")
def picture() -> list[TextContent | ImageContent]:
    return [
        TextContent(type="text", text="a tiny picture"),
        ImageContent(type="image", data=base64.b64encode(PNG).decode(), mimeType="image/png"),
    ]


def _mark(text: str) -> None:
    marker = os.environ.get("MCP_FIXTURE_MARKER")
    if marker:
        with open(marker, "w") as f:
            f.write(text)


@server.tool(description="Sleeps, then answers; the marker file says started or cancelled.")
async def slow(seconds: float) -> str:
    _mark("started")
    try:
        await asyncio.sleep(seconds)
    except BaseException:
        _mark("cancelled")
        raise
    return "slept"


@server.tool(description="The server process exits in the middle of the call.")
def die() -> str:
    os._exit(3)


@server.tool(description="Adds a tool named `extra` and tells the client the list changed.")
async def grow(ctx: Context) -> str:
    if "extra" not in {t.name for t in await server.list_tools()}:
        server.add_tool(lambda: "extra tool answered", name="extra", description="Added late.")
    await ctx.session.send_tool_list_changed()
    return "grown"


async def _unauthorized(request: Request) -> Response:
    return JSONResponse(
        {"error": "invalid_token"},
        401,
        {"www-authenticate": 'Bearer error="invalid_token"'},
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--http", action="store_true")
    parser.add_argument("--sse", action="store_true")
    parser.add_argument("--deny", action="store_true", help="answer every request with 401")
    parser.add_argument("--oauth", action="store_true", help="require OAuth, approving all")
    parser.add_argument("--hang", action="store_true")
    args = parser.parse_args()
    if args.hang:
        # Never answers `initialize`; the client's timeout has to end the wait.
        time.sleep(3600)
        return
    if not (args.http or args.sse or args.deny or args.oauth):
        server.run()
        return
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    print(f"port {sock.getsockname()[1]}", flush=True)
    if args.oauth:
        base = f"http://127.0.0.1:{sock.getsockname()[1]}"
        protected = MCPServer(
            "fixture",
            log_level="ERROR",
            auth_server_provider=Approving(),
            auth=AuthSettings(
                issuer_url=base,
                resource_server_url=f"{base}/mcp",
                client_registration_options=ClientRegistrationOptions(enabled=True),
            ),
        )
        protected.add_tool(echo, description="Echo the text back, upper-cased.")
        app = protected.streamable_http_app(host="127.0.0.1")
    elif args.deny:
        app = Starlette(routes=[Route("/mcp", _unauthorized, methods=["GET", "POST", "DELETE"])])
    elif args.sse:
        app = server.sse_app(host="127.0.0.1")
    else:
        app = server.streamable_http_app(host="127.0.0.1")
    config = uvicorn.Config(app, log_level="error")
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    sys.exit(main())
