"""`/find`: text search (ripgrep), fuzzy file-name search, and symbols (none: no LSP)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from starlette.responses import Response

from pyopencode.file import find, search
from pyopencode.server.instance import CurrentInstance
from pyopencode.server.json import JsonRoute, json_response

router = APIRouter(route_class=JsonRoute)


@router.get("/find", operation_id="find.text", tags=["find"])
async def find_text(
    instance: CurrentInstance, pattern: Annotated[str, Query(max_length=4096)]
) -> Response:
    """Lines matching the regex `pattern` (ripgrep), at most 10, `.gitignore` honoured."""
    return json_response(await search.text(instance.directory, pattern))


@router.get("/find/file", operation_id="find.files", tags=["find"])
async def find_files(
    instance: CurrentInstance,
    query: Annotated[str, Query(max_length=1024)],
    dirs: Literal["true", "false"] | None = None,
    type: Literal["file", "directory"] | None = None,
    limit: Annotated[int | None, Query(ge=1, le=200)] = None,
) -> Response:
    """File and directory paths whose names fuzzily match `query`; directories end in `/`."""
    found = await find.files(
        instance.directory,
        query,
        dirs=dirs != "false",
        kind=type,
        limit=limit or find.DEFAULT_LIMIT,
    )
    return json_response(found)


@router.get(
    "/find/symbol",
    operation_id="find.symbols",
    tags=["find"],
    description="Always `[]`: pyopencode runs no language server, so it knows no symbols.",
)
async def find_symbols(
    instance: CurrentInstance, query: Annotated[str, Query(max_length=1024)]
) -> Response:
    return json_response([])
