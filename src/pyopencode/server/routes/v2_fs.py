"""`/api/fs/*` (v2): read one file, list one directory, find entries; over the `file` package.

Upstream answers 500 for a missing or escaping path; these answer the declared 400
`InvalidRequestError` instead, and change nothing.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from starlette.responses import Response

from pyopencode import errors
from pyopencode.file import content, find, listing
from pyopencode.server.json import JsonRoute
from pyopencode.server.routes.tui import Location, _listing
from pyopencode.server.routes.v2_errors import invalid_request

router = APIRouter(prefix="/api/fs", tags=["v2"], route_class=JsonRoute)

# find.files ranks the whole project listing; this bounds one answer.
MAX_FIND = 200


def _refused(exc: errors.OpencodeError, kind: str) -> Response:
    return invalid_request(exc.message, kind, "path")


def _entry(path: str) -> dict[str, str]:
    return {"path": path, "type": "directory" if path.endswith("/") else "file"}


@router.get(
    "/read/{path:path}",
    operation_id="v2.fs.read",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}, "description": "Success"}},
    description=(
        "Serve one file relative to the requested location, as bytes. A path that leaves the "
        "location, is missing, is not a regular file or is over the read cap answers 400."
    ),
)
async def read(instance: Location, path: str) -> Response:
    try:
        data = await content.read_bytes(instance.directory, path)
    except errors.OpencodeError as exc:
        if exc.status >= 500:
            raise
        return _refused(exc, "Params")
    return Response(data, media_type="application/octet-stream")


@router.get(
    "/list",
    operation_id="v2.fs.list",
    description="List direct children of one directory relative to the requested location.",
)
async def list_directory(
    instance: Location, path: Annotated[str, Query(max_length=4096)] = ""
) -> Response:
    try:
        nodes = await listing.list_directory(instance.directory, path)
    except errors.OpencodeError as exc:
        if exc.status >= 500:
            raise
        return _refused(exc, "Query")
    return _listing(instance, [{"path": n["path"], "type": n["type"]} for n in nodes])


@router.get(
    "/find",
    operation_id="v2.fs.find",
    description=(
        "Find ranked files and directories (by fuzzy name match, `.gitignore` honoured) "
        f"relative to the requested location; `limit` defaults to {find.DEFAULT_LIMIT}, "
        f"at most {MAX_FIND}."
    ),
)
async def find_entries(
    instance: Location,
    query: Annotated[str, Query(max_length=1024)],
    type: Literal["file", "directory"] | None = None,
    limit: Annotated[int | None, Query(ge=1, le=MAX_FIND)] = None,
) -> Response:
    found = await find.files(
        instance.directory, query, kind=type, limit=limit or find.DEFAULT_LIMIT
    )
    return _listing(instance, [_entry(p) for p in found])
