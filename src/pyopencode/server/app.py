"""ASGI app factory: wires settings, store, bus and routes into one FastAPI application."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import ORJSONResponse

from pyopencode import __version__
from pyopencode.bus import Bus
from pyopencode.server import errors
from pyopencode.server.limits import BodyLimit
from pyopencode.server.routes import event, message, meta, session
from pyopencode.server.settings import Settings
from pyopencode.server.state import State
from pyopencode.store import open_store


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        bus = Bus(max_queue=settings.sse_queue_size)
        store = await open_store(settings.store_url, bus)
        app.state.pyopencode = State(settings=settings, store=store, bus=bus)
        try:
            yield
        finally:
            bus.close_all()
            # Drains the writer queue first: writes already accepted still commit.
            await store.close()

    app = FastAPI(
        title="pyopencode",
        version=__version__,
        description="An OpenCode-compatible server that keeps every promise its answers make.",
        lifespan=lifespan,
        openapi_url="/doc",
        docs_url=None,
        redoc_url=None,
        default_response_class=ORJSONResponse,
    )
    errors.install(app)
    for module in (session, message, event, meta):
        app.include_router(module.router)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    return app
