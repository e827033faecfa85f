"""Formatters, LSP and provider logins: what pyopencode has none of, said so."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from pyopencode.server.instance import CurrentInstance
from pyopencode.server.json import JsonRoute, json_response

router = APIRouter(route_class=JsonRoute)


@router.get("/formatter", operation_id="formatter.status", tags=["formatter"])
async def formatters(instance: CurrentInstance) -> Response:
    return json_response([])


@router.get("/lsp", operation_id="lsp.status", tags=["lsp"])
async def lsp(instance: CurrentInstance) -> Response:
    return json_response([])


@router.get("/provider/auth", operation_id="provider.auth", tags=["provider"])
async def provider_auth(instance: CurrentInstance) -> Response:
    """No login methods: providers and their keys come from opencode.json only."""
    return json_response({})
