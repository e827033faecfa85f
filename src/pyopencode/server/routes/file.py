"""`/file`: list a directory, read a file, and git's status of the project's files."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.responses import Response

from pyopencode.file import content, listing, status
from pyopencode.server.instance import CurrentInstance
from pyopencode.server.json import JsonRoute, json_response

router = APIRouter(route_class=JsonRoute)

PathQuery = Annotated[str, Query(max_length=4096)]


@router.get("/file", operation_id="file.list", tags=["file"])
async def file_list(instance: CurrentInstance, path: PathQuery) -> Response:
    """Files and directories in `path`, relative to the project directory."""
    return json_response(await listing.list_directory(instance.directory, path))


@router.get("/file/content", operation_id="file.read", tags=["file"])
async def file_read(instance: CurrentInstance, path: PathQuery) -> Response:
    """A file's text (trimmed), or base64 for binary; with git's diff when it is modified."""
    return json_response(await content.read(instance.directory, path))


@router.get("/file/status", operation_id="file.status", tags=["file"])
async def file_status(instance: CurrentInstance) -> Response:
    """Files git sees changed against HEAD (untracked included), with line counts."""
    changed = await status.changes(instance.directory)
    return json_response(
        [
            {"path": c.file, "added": c.additions, "removed": c.deletions, "status": c.status}
            for c in changed
        ]
    )
