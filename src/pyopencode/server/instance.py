"""Resolves which directory and project a request is about (`?directory=` or header)."""

from __future__ import annotations

import asyncio
import os
from typing import Annotated
from urllib.parse import unquote

from fastapi import Depends, Query, Request

from pyopencode import project
from pyopencode.project import Instance
from pyopencode.server.state import State


async def resolve(state: State, directory: str | None) -> Instance:
    path = os.path.normpath(os.path.abspath(directory or state.settings.cwd))
    cached = state.instances.get(path)
    if cached is not None:
        return cached
    lock = state.instance_locks.setdefault(path, asyncio.Lock())
    async with lock:
        cached = state.instances.get(path)
        if cached is None:
            cached = await asyncio.to_thread(project.detect, path)
            await state.store.ensure_project(cached.project_json())
            state.instances[path] = cached
    return cached


async def current_instance(
    request: Request,
    directory: Annotated[str | None, Query(max_length=4096)] = None,
    workspace: Annotated[str | None, Query(max_length=4096)] = None,
) -> Instance:
    header = request.headers.get("x-opencode-directory")
    chosen = directory if directory else (unquote(header) if header else None)
    state: State = request.app.state.pyopencode
    return await resolve(state, chosen)


CurrentInstance = Annotated[Instance, Depends(current_instance)]
