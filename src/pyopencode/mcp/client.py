"""One connection to one MCP server, held open by its own task, through the `mcp` SDK."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable
from contextlib import AsyncExitStack
from typing import Any

import anyio
import httpx2
import mcp
from mcp import types
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CONNECTION_CLOSED

from pyopencode.mcp.config import LocalConfig, RemoteConfig, timeout_seconds
from pyopencode.mcp.oauth import NoInteraction

Json = dict[str, Any]
log = logging.getLogger(__name__)

# How long a closing connection may take to end its child process before it is cancelled.
CLOSE_SECONDS = 5.0
# A single tool call may take this long; abort ends it sooner.
CALL_TIMEOUT_SECONDS = 600.0
_HTTP_TIMEOUT = httpx2.Timeout(30.0, read=300.0)


class NeedsAuth(Exception):
    """The remote server answered 401: it wants OAuth credentials we do not hold."""


def _leaf(exc: BaseException) -> BaseException:
    """The first real error inside anyio's exception groups."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def describe(exc: BaseException) -> str:
    exc = _leaf(exc)
    if isinstance(exc, OSError) and exc.strerror:
        target = f": {exc.filename}" if exc.filename else ""
        return f"{exc.strerror}{target}"
    return str(exc) or type(exc).__name__


class Connection:
    """Status, tools and calls of one server; `start` connects, `close` ends it and its child."""

    def __init__(
        self,
        name: str,
        config: LocalConfig | RemoteConfig,
        directory: str,
        on_tools_changed: Callable[[str], None],
        auth: httpx2.Auth | None = None,
    ) -> None:
        self.name = name
        self.auth = auth
        self.config = config
        self.directory = directory
        self.status: Json = {"status": "failed", "error": "Not connected"}
        self.tools: list[types.Tool] = []
        self._on_tools_changed = on_tools_changed
        self._session: mcp.ClientSession | None = None
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._closing = asyncio.Event()
        self._refresh: set[asyncio.Task[None]] = set()

    @property
    def connected(self) -> bool:
        return self._session is not None and self.status["status"] == "connected"

    async def start(self, limit: float | None = None) -> None:
        """Connects and lists tools; returns when connected or failed, within `timeout`."""
        limit = limit or timeout_seconds(self.config)
        task = self._task = asyncio.get_running_loop().create_task(self._hold())
        try:
            await asyncio.wait_for(asyncio.shield(self._ready.wait()), limit)
        except TimeoutError:
            # Cancelling the task unwinds the SDK's scopes, which end the child process.
            self.status = {
                "status": "failed",
                "error": f"Operation timed out after {int(limit * 1000)}ms",
            }
            task.cancel()
            await asyncio.wait({task}, timeout=CLOSE_SECONDS)

    async def close(self) -> None:
        self._closing.set()
        task = self._task
        if task is None:
            return
        done, _ = await asyncio.wait({task}, timeout=CLOSE_SECONDS)
        if not done:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for refresh in list(self._refresh):
            refresh.cancel()

    async def call(self, tool: str, arguments: Json) -> types.CallToolResult:
        session = self._session
        if session is None:
            raise ConnectionError(f"MCP server {self.name} is not connected")
        try:
            return await session.call_tool(
                tool, arguments, read_timeout_seconds=CALL_TIMEOUT_SECONDS
            )
        except mcp.MCPError as exc:
            if exc.code == CONNECTION_CLOSED and self._session is session:
                # The server went away (a local one exited): say so, and let the task end.
                self.status = {"status": "failed", "error": exc.error.message}
                self._session = None
                self._closing.set()
            raise ConnectionError(f"MCP server {self.name}: {exc.error.message}") from exc

    # --- the task that owns the transport and the session (anyio scopes stay in one task)
    async def _hold(self) -> None:
        try:
            async with AsyncExitStack() as stack:
                session = await self._open(stack)
                listed = await session.list_tools()
                self.tools = list(listed.tools)
                self._session = session
                self.status = {"status": "connected"}
                self._ready.set()
                await self._closing.wait()
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # whatever the server did, it only fails this server
            leaf = _leaf(exc)
            if isinstance(leaf, NeedsAuth | NoInteraction):
                self.status = {"status": "needs_auth"}
            elif self._closing.is_set():
                pass  # closed on purpose, or already marked failed by `call`
            else:
                self.status = {"status": "failed", "error": describe(leaf)}
                if self._session is not None:
                    log.warning("MCP server %s dropped: %s", self.name, self.status["error"])
        finally:
            self._session = None
            self._ready.set()

    async def _open(self, stack: AsyncExitStack) -> mcp.ClientSession:
        """An initialized session whose transport lives as long as `stack`."""
        config = self.config
        if isinstance(config, RemoteConfig):
            return await self._open_remote(config, stack)
        params = mcp.StdioServerParameters(
            command=config.command[0],
            args=config.command[1:],
            # Upstream hands servers the whole environment, then the configured overrides.
            env={**os.environ, **(config.environment or {})},
            cwd=config.cwd or self.directory,
        )
        try:
            read, write = await stack.enter_async_context(mcp.stdio_client(params))
        except OSError as exc:
            raise OSError(exc.errno, exc.strerror or str(exc), config.command[0]) from exc
        return await self._session_on(stack, read, write)

    async def _session_on(self, stack: AsyncExitStack, read: Any, write: Any) -> mcp.ClientSession:
        session = await stack.enter_async_context(
            mcp.ClientSession(read, write, message_handler=self._on_message)
        )
        await session.initialize()
        return session

    async def _open_remote(self, config: RemoteConfig, stack: AsyncExitStack) -> mcp.ClientSession:
        statuses: list[int] = []

        async def note(response: httpx2.Response) -> None:
            statuses.append(response.status_code)

        # Streamable HTTP first; a server that only speaks the older SSE transport is retried.
        attempt = AsyncExitStack()
        try:
            client = await attempt.enter_async_context(
                httpx2.AsyncClient(
                    headers=config.headers or {},
                    timeout=_HTTP_TIMEOUT,
                    event_hooks={"response": [note]},
                    auth=self.auth,
                )
            )
            read, write = await attempt.enter_async_context(
                streamable_http_client(config.url, http_client=client)
            )
            session = await self._session_on(attempt, read, write)
        except BaseException as raised:
            # A transport that failed inside its task group surfaces here as a cancel;
            # closing the attempt gives the real error, or the cancel if it was one.
            error: BaseException = raised
            try:
                await attempt.aclose()
            except BaseException as closing:
                error = closing
            leaf = _leaf(error)
            if isinstance(leaf, asyncio.CancelledError) or not isinstance(error, Exception):
                raise error from None
            if (401 in statuses and config.oauth is not False) or isinstance(leaf, NoInteraction):
                raise NeedsAuth(f"MCP server {self.name} requires authorization") from error
            first = describe(error)
            log.info("MCP server %s: streamable HTTP failed (%s); trying SSE", self.name, first)
            read, write = await stack.enter_async_context(
                sse_client(config.url, headers=config.headers or {}, timeout=30.0, auth=self.auth)
            )
            return await self._session_on(stack, read, write)
        stack.push_async_exit(attempt)
        return session

    async def _on_message(self, message: Any) -> None:
        if isinstance(message, types.ToolListChangedNotification):
            # Not awaited here: listing is a request, and this handler runs in the reader.
            task = asyncio.get_running_loop().create_task(self._relist())
            self._refresh.add(task)
            task.add_done_callback(self._refresh.discard)

    async def _relist(self) -> None:
        session = self._session
        if session is None:
            return
        try:
            with anyio.fail_after(timeout_seconds(self.config)):
                listed = await session.list_tools()
        except Exception as exc:
            log.warning("MCP server %s: could not list changed tools: %s", self.name, exc)
            return
        self.tools = list(listed.tools)
        self._on_tools_changed(self.name)
