"""The MCP servers of each instance (directory): started from config, added, (dis)connected."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from pyopencode import config as config_loader
from pyopencode.bus import Bus, Event
from pyopencode.errors import OpencodeError
from pyopencode.mcp.config import InvalidEntry, LocalConfig, RemoteConfig, parse, section

if TYPE_CHECKING:
    # The SDK takes about 0.4 s to import: it is imported where a server first connects
    # (`_connect`, `auth_start`), so only an instance with MCP servers configured pays for it.
    from pyopencode.mcp import oauth
    from pyopencode.mcp.client import Connection

Json = dict[str, Any]
log = logging.getLogger(__name__)


class OAuthUnavailable(Exception):
    """No OAuth flow can run for this server; the message says why."""


class ServerNotFound(Exception):
    def __init__(self, name: str) -> None:
        super().__init__(f"MCP server not found: {name}")
        self.name = name


class Servers:
    """One instance's servers by name, in config order; each holds its own connection."""

    def __init__(self, directory: str, bus: Bus | None) -> None:
        self.directory = directory
        self._bus = bus
        self.configs: dict[str, LocalConfig | RemoteConfig] = {}
        self.connections: dict[str, Connection] = {}
        # Servers that are off or whose entry is unusable, with the status to show for them.
        self.idle: dict[str, Json] = {}
        # OAuth tokens and flows in progress, by server; in memory, per process.
        self.tokens: dict[str, oauth.Tokens] = {}
        self.flows: dict[str, oauth.Flow] = {}
        self._lock = asyncio.Lock()
        self._started: asyncio.Task[None] | None = None

    def start(self) -> asyncio.Task[None]:
        """Connects every enabled server in the background, once; await it to wait for them."""
        if self._started is None:
            self._started = asyncio.get_running_loop().create_task(self._start_all())
        return self._started

    async def _start_all(self) -> None:
        try:
            cfg = await asyncio.to_thread(config_loader.load, self.directory)
        except OpencodeError as exc:
            log.warning("MCP: configuration of %s not loaded: %s", self.directory, exc.message)
            return
        starts = []
        for name, entry in section(cfg).items():
            if isinstance(entry, dict) and entry.get("enabled") is False:
                self.idle[name] = {"status": "disabled"}
                with contextlib.suppress(InvalidEntry):
                    self.configs[name] = parse(entry)
                continue
            try:
                self.configs[name] = parse(entry)
            except InvalidEntry as exc:
                self.idle[name] = {"status": "failed", "error": str(exc)}
                continue
            starts.append(self._connect(name))
        await asyncio.gather(*starts)

    async def ready(self) -> None:
        await asyncio.shield(self.start())

    def status(self) -> dict[str, Json]:
        out: dict[str, Json] = {}
        for name in {**self.configs, **self.idle, **self.connections}:
            conn = self.connections.get(name)
            out[name] = dict(conn.status) if conn is not None else self.idle.get(name, {})
            if name in self.flows:
                out[name] = {"status": "needs_auth"}  # waiting for the user's authorization
        return {k: v for k, v in out.items() if v}

    def known(self, name: str) -> bool:
        return name in self.configs or name in self.idle or name in self.connections

    async def add(self, name: str, config: LocalConfig | RemoteConfig) -> None:
        await self.ready()
        await self.disconnect(name, missing_ok=True)
        self.configs[name] = config
        self.idle.pop(name, None)
        if config.enabled is False:
            self.idle[name] = {"status": "disabled"}
            return
        await self._connect(name)

    async def connect(self, name: str) -> None:
        await self.ready()
        if not self.known(name):
            raise ServerNotFound(name)
        config = self.configs.get(name)
        if config is None:
            return  # an unusable entry stays failed
        await self.disconnect(name, missing_ok=True)
        self.idle.pop(name, None)
        await self._connect(name)

    async def disconnect(self, name: str, missing_ok: bool = False) -> None:
        if not missing_ok:
            await self.ready()
            if not self.known(name):
                raise ServerNotFound(name)
        async with self._lock:
            conn = self.connections.pop(name, None)
        if conn is not None:
            await conn.close()
        if name in self.configs:
            # As upstream shows a server turned off at run time.
            self.idle[name] = {"status": "disabled"}

    async def _connect(self, name: str, flow: oauth.Flow | None = None) -> None:
        from pyopencode.mcp import oauth
        from pyopencode.mcp.client import Connection, describe

        config = self.configs[name]
        auth = None
        if isinstance(config, RemoteConfig) and config.oauth is not False:
            tokens = self.tokens.setdefault(name, oauth.storage_for(config))
            auth = oauth.provider(config, tokens, flow)
        conn = Connection(name, config, self.directory, self._tools_changed, auth)
        async with self._lock:
            self.connections[name] = conn
        try:
            await conn.start(oauth.FLOW_SECONDS if flow else None)
        except Exception as exc:  # never lets one server's failure escape
            conn.status = {"status": "failed", "error": describe(exc)}
        if conn.status["status"] != "connected":
            # A failed server holds nothing open; its task has ended.
            await conn.close()

    # --- OAuth
    def _oauth_config(self, name: str) -> RemoteConfig:
        if not self.known(name):
            raise ServerNotFound(name)
        config = self.configs.get(name)
        if not isinstance(config, RemoteConfig) or config.oauth is False:
            raise OAuthUnavailable(f"MCP server {name} does not support OAuth")
        return config

    async def auth_start(self, name: str) -> tuple[str, str]:
        """Starts authorizing through the SDK; returns (authorization URL, OAuth state)."""
        await self.ready()
        self._oauth_config(name)
        await self.disconnect(name, missing_ok=True)
        self.idle.pop(name, None)
        from pyopencode.mcp import oauth

        flow = self.flows[name] = oauth.Flow()
        connecting = asyncio.get_running_loop().create_task(self._connect(name, flow))
        flow.task = connecting
        waiters: set[asyncio.Future[Any]] = {flow.url, connecting}
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        if flow.url.done():
            return flow.url.result(), flow.state
        self.flows.pop(name, None)
        status = self.status().get(name, {})
        if status.get("status") == "connected":
            raise OAuthUnavailable(f"MCP server {name} is already authorized")
        raise OAuthUnavailable(
            f"MCP server {name}: authorization could not start: {status.get('error', status)}"
        )

    async def auth_callback(self, name: str, code: str) -> Json:
        """Completes the flow with the code the authorization server sent back."""
        await self.ready()
        self._oauth_config(name)
        flow = self.flows.pop(name, None)
        if flow is None or flow.task is None:
            raise OAuthUnavailable(f"No OAuth flow is in progress for MCP server {name}")
        flow.code.set_result(code)
        await flow.task
        return self.status().get(name, {"status": "failed", "error": "Not connected"})

    async def auth_remove(self, name: str) -> None:
        await self.ready()
        if not self.known(name):
            raise ServerNotFound(name)
        self.tokens.pop(name, None)
        flow = self.flows.pop(name, None)
        if flow is not None and not flow.code.done():
            flow.code.cancel()

    def _tools_changed(self, name: str) -> None:
        if self._bus is not None:
            self._bus.publish([Event("mcp.tools.changed", {"server": name}, self.directory)])

    def live(self) -> list[Connection]:
        return [c for c in self.connections.values() if c.connected]

    async def close(self) -> None:
        if self._started is not None and not self._started.done():
            self._started.cancel()
            with contextlib.suppress(BaseException):
                await self._started
        async with self._lock:
            conns = list(self.connections.values())
            self.connections.clear()
        await asyncio.gather(*(c.close() for c in conns), return_exceptions=True)


# Directories are client input: past this many instances, the least recently started closes.
MAX_INSTANCES = 64


class Registry:
    """Every instance's servers in this process; on PostgreSQL each process has its own."""

    def __init__(self) -> None:
        self.bus: Bus | None = None
        self._instances: dict[str, Servers] = {}
        self._closing: set[asyncio.Task[None]] = set()
        self._closed = False

    def attach(self, bus: Bus) -> None:
        """Publishes tool changes on `bus`, and follows the instance disposals announced there."""
        self.bus = bus
        bus.listen(self._on_event)

    def _on_event(self, event: Event) -> None:
        if event.type == "server.instance.disposed":
            directory = event.properties.get("directory")
            if isinstance(directory, str):
                self._background(self.dispose(directory))
        elif event.type == "global.disposed":
            for directory in list(self._instances):
                self._background(self.dispose(directory))

    def _background(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    def servers(self, directory: str) -> Servers:
        """The instance's servers, starting their connections on first use."""
        path = os.path.normpath(os.path.abspath(directory))
        found = self._instances.get(path)
        if found is None:
            if len(self._instances) >= MAX_INSTANCES:
                oldest = self._instances.pop(next(iter(self._instances)))
                self._background(oldest.close())
            found = self._instances[path] = Servers(path, self.bus)
            if not self._closed:
                found.start()
        return found

    async def dispose(self, directory: str) -> None:
        """Closes one instance's sessions and child processes; the next use starts afresh."""
        path = os.path.normpath(os.path.abspath(directory))
        found = self._instances.pop(path, None)
        if found is not None:
            await found.close()

    async def close(self) -> None:
        self._closed = True
        instances = list(self._instances.values())
        self._instances.clear()
        await asyncio.gather(
            *(s.close() for s in instances), *self._closing, return_exceptions=True
        )
