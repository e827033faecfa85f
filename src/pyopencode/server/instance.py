"""Resolves which directory and project a request is about (`?directory=` or header)."""

from __future__ import annotations

import asyncio
import os
from typing import Annotated
from urllib.parse import unquote

from fastapi import Depends, Query, Request

from pyopencode import mcp, project
from pyopencode.errors import BadRequestError
from pyopencode.project import Instance
from pyopencode.server.params import MAX_PATH
from pyopencode.server.state import State

# Directories are client input; the cache of their projects must not grow without bound.
MAX_CACHED_INSTANCES = 1024


DIRECTORY_HEADER = "x-opencode-directory"
MAX_DIRECTORY = MAX_PATH


def chosen(query: str | None, header: str | None) -> str | None:
    """The directory a request is about: `?directory=`, else the (percent-encoded) header."""
    if query:
        return query
    return unquote(header) if header else None


async def resolve(state: State, directory: str | None) -> Instance:
    if directory and "\x00" in directory:
        raise BadRequestError(
            "directory: must not contain NUL characters", field="directory", kind="Query"
        )
    path = os.path.normpath(os.path.abspath(directory or state.settings.cwd))
    cached = state.instances.get(path)
    if cached is not None:
        return cached
    # Sessions are only made in directories that exist: a typo or a file name would otherwise
    # file them under a project nobody can open.
    if not await asyncio.to_thread(os.path.isdir, path):
        message = f"directory: {path} is not an existing directory"
        raise BadRequestError(message, field="directory", kind="Query")
    lock = state.instance_locks.setdefault(path, asyncio.Lock())
    try:
        async with lock:
            cached = state.instances.get(path)
            if cached is None:
                try:
                    cached = await asyncio.to_thread(project.detect, path)
                except OSError as exc:
                    message = f"directory: {exc.strerror}"
                    raise BadRequestError(message, field="directory", kind="Query") from exc
                await state.sessions.ensure_project(cached.project_json())
                if len(state.instances) >= MAX_CACHED_INSTANCES:
                    state.instances.pop(next(iter(state.instances)))
                state.instances[path] = cached
                mcp.registry().servers(path)  # its MCP servers connect in the background
    finally:
        # The lock only serialises the first resolution; a late waiter keeps its own reference.
        state.instance_locks.pop(path, None)
    return cached


async def current_instance(
    request: Request,
    directory: Annotated[str | None, Query(max_length=MAX_DIRECTORY)] = None,
    workspace: Annotated[str | None, Query(max_length=MAX_DIRECTORY)] = None,
) -> Instance:
    state: State = request.app.state.pyopencode
    return await resolve(state, chosen(directory, request.headers.get(DIRECTORY_HEADER)))


CurrentInstance = Annotated[Instance, Depends(current_instance)]
