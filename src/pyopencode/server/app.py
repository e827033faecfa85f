"""ASGI app factory: wires settings, store, bus and routes into one FastAPI application."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import ORJSONResponse
from starlette.middleware.cors import CORSMiddleware

from pyopencode import __version__
from pyopencode.bus import Bus
from pyopencode.mcp import registry as mcp_registry
from pyopencode.provider import clients as provider_clients
from pyopencode.pty import Terminals
from pyopencode.server import errors
from pyopencode.server.accesslog import AccessLog
from pyopencode.server.auth import BasicAuth
from pyopencode.server.guard import RequestGuard
from pyopencode.server.hot import HotRoutes
from pyopencode.server.instance import DIRECTORY_HEADER
from pyopencode.server.limits import BodyLimit
from pyopencode.server.query import RepeatedQuery
from pyopencode.server.routes import (
    agent,
    auth,
    command,
    config,
    event,
    experimental,
    experimental_session,
    file,
    find,
    instance,
    log,
    mcp,
    message,
    meta,
    permission,
    project,
    prompt,
    provider,
    pty,
    question,
    revert,
    session,
    share,
    shell,
    skill,
    summarize,
    tool,
    tooling,
    tui,
    tui_control,
    unsupported,
    v2,
    v2_fs,
    v2_question,
    v2_session,
    v2_session_message,
    v2_session_permission,
    v2_session_question,
    v2_session_revert,
    vcs,
)
from pyopencode.server.settings import Settings
from pyopencode.server.state import State
from pyopencode.session.service import SessionService
from pyopencode.snapshot import service as snapshots
from pyopencode.tui import ControlQueue


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        bus = Bus(
            max_queue=settings.sse_queue_size,
            buffer_size=settings.event_buffer_size,
            max_queue_bytes=settings.sse_queue_bytes,
            buffer_bytes=settings.event_buffer_bytes,
        )
        sessions = await SessionService.open(
            settings.store_url, bus, write_timeout=settings.write_timeout_seconds
        )
        snapshots.configure(settings.data_dir)
        app.state.pyopencode = State(settings=settings, sessions=sessions, bus=bus)
        app.state.terminals = Terminals(lambda event: bus.publish([event]))
        app.state.tui_control = ControlQueue()
        mcp_registry().attach(bus)
        try:
            yield
        finally:
            app.state.terminals.close()
            bus.close_all()
            await mcp_registry().close()  # ends every MCP session and child process
            await provider_clients.close_all()
            # Drains the writer queue first: writes already accepted still commit.
            await sessions.close()

    app = FastAPI(
        title="pyopencode",
        version=__version__,
        description="An OpenCode-compatible server that keeps every promise its answers make.",
        lifespan=lifespan,
        openapi_url="/doc",
        docs_url=None,
        redoc_url=None,
        default_response_class=ORJSONResponse,
        # pyopencode installs no OpenTelemetry providers; left on, FastAPI would look the
        # global ones up again on every request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    errors.install(app)
    for module in (session, prompt, message, event, meta, config, provider, agent, permission):
        app.include_router(module.router)
    for module in (tui, experimental, tooling, vcs, file, find, revert, mcp):
        app.include_router(module.router)
    for module in (pty, instance, tui_control, auth, log, project, unsupported, v2):
        app.include_router(module.router)
    for module in (summarize, shell):
        app.include_router(module.router)
    for module in (command, skill, question, tool, share):
        app.include_router(module.router)
    for module in (v2_session, v2_session_message, v2_session_permission, v2_session_question):
        app.include_router(module.router)
    app.include_router(v2_session_revert.router)
    for module in (v2_fs, v2_question, experimental_session):
        app.include_router(module.router)
    # Added innermost first; a request meets them in the reverse order: access log, the
    # Host/Origin/content-type guard, repeated query parameters (400), CORS (so
    # preflights, which carry no credentials, are answered and 401s still carry CORS headers),
    # authentication, limits, then the hot session routes ahead of FastAPI's own routing.
    if settings.hot_routes:
        app.add_middleware(HotRoutes, trace=settings.hot_trace)
    app.add_middleware(
        BodyLimit,
        max_bytes=settings.max_body_bytes,
        max_path_bytes=settings.max_path_bytes,
        max_query_bytes=settings.max_query_bytes,
        body_timeout=settings.body_timeout_seconds,
    )
    if settings.password:
        app.add_middleware(BasicAuth, username=settings.username, password=settings.password)
    if settings.cors_origins:
        # Exact origins only (the CLI refuses "*"), so allowing credentials is safe.
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_credentials=True,
            allow_methods=["GET", "POST", "PATCH", "PUT", "DELETE"],
            allow_headers=["authorization", "content-type", "last-event-id", DIRECTORY_HEADER],
            max_age=600,
        )
    app.add_middleware(RepeatedQuery)
    app.add_middleware(
        RequestGuard,
        check_host=settings.check_host,
        allowed_hosts=settings.allowed_hosts,
        allowed_origins=settings.cors_origins,
    )
    if settings.access_log:
        app.add_middleware(AccessLog)
    return app
