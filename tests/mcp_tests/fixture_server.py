"""A real MCP server for tests, written with the `mcp` SDK: stdio by default, or `--http`."""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import socket
import sys
import time

# Recorded before the slow imports, so a test sees every process that was started.
if os.environ.get("MCP_FIXTURE_PIDFILE"):
    with open(os.environ["MCP_FIXTURE_PIDFILE"], "a") as _f:
        _f.write(f"{os.getpid()}\n")

import uvicorn
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
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
    parser.add_argument("--hang", action="store_true")
    args = parser.parse_args()
    if args.hang:
        # Never answers `initialize`; the client's timeout has to end the wait.
        time.sleep(3600)
        return
    if not (args.http or args.sse or args.deny):
        server.run()
        return
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    print(f"port {sock.getsockname()[1]}", flush=True)
    if args.deny:
        app = Starlette(routes=[Route("/mcp", _unauthorized, methods=["GET", "POST", "DELETE"])])
    elif args.sse:
        app = server.sse_app(host="127.0.0.1")
    else:
        app = server.streamable_http_app(host="127.0.0.1")
    config = uvicorn.Config(app, log_level="error")
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    sys.exit(main())
