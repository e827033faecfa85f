"""`GET /config` and `GET /config/providers`: the merged configuration of a directory."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter
from starlette.responses import Response

from pyopencode import config, provider
from pyopencode.server.instance import CurrentInstance
from pyopencode.server.json import JsonRoute, json_response

router = APIRouter(tags=["config"], route_class=JsonRoute)

Json = dict[str, Any]


def _redacted(cfg: Json) -> Json:
    # API keys stay on the server, whatever the config file says.
    out = dict(cfg)
    providers = {}
    for pid, spec in (cfg.get("provider") or {}).items():
        if isinstance(spec, dict) and isinstance(spec.get("options"), dict):
            spec = {**spec, "options": {k: v for k, v in spec["options"].items() if k != "apiKey"}}
        providers[pid] = spec
    if providers:
        out["provider"] = providers
    return out


def defaults(cfg: Json) -> dict[str, str]:
    out: dict[str, str] = {}
    for p in provider.list_providers(cfg):
        if p["models"]:
            out[p["id"]] = next(iter(p["models"]))
    try:
        pid, mid = provider.default_model(cfg)
        out[pid] = mid
    except provider.NoProviderError:
        pass
    return out


@router.get("/config", operation_id="config.get")
async def get_config(instance: CurrentInstance) -> Response:
    cfg = await asyncio.to_thread(config.load, instance.directory)
    return json_response(_redacted(cfg))


@router.get("/config/providers", operation_id="config.providers")
async def get_providers(instance: CurrentInstance) -> Response:
    cfg = await asyncio.to_thread(config.load, instance.directory)
    return json_response({"providers": provider.list_providers(cfg), "default": defaults(cfg)})
