"""`GET /provider`: configured providers, their default models, and which are usable."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from starlette.responses import Response

from pyopencode import config
from pyopencode import provider as providers
from pyopencode.server.instance import CurrentInstance
from pyopencode.server.json import JsonRoute, json_response
from pyopencode.server.routes.config import defaults

router = APIRouter(tags=["provider"], route_class=JsonRoute)


@router.get("/provider", operation_id="provider.list")
async def list_providers(instance: CurrentInstance) -> Response:
    cfg = await asyncio.to_thread(config.load, instance.directory)
    every = providers.list_providers(cfg)
    return json_response(
        {"all": every, "default": defaults(cfg), "connected": [p["id"] for p in every]}
    )
