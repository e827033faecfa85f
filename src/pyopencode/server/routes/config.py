"""`/config`, `/config/providers` and `/global/config`: read and patch the configuration."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from pyopencode import config, provider
from pyopencode.config import update
from pyopencode.errors import BadRequestError
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


# The body is read by hand (any config object), so /doc is told what it takes.
_OBJECT_BODY = {"requestBody": {"content": {"application/json": {"schema": {"type": "object"}}}}}
_PATCH = (
    "Deep-merges the body into the project's opencode.jsonc or opencode.json (a new "
    "opencode.json when there is neither). Only the values that change are rewritten: "
    "comments, trailing commas and layout stay. Answers the merged configuration."
)


async def _patch(path: Path, request: Request) -> None:
    try:
        body = await request.json()
    except ValueError as exc:
        raise BadRequestError("Malformed JSON body", kind="Body") from exc
    await asyncio.to_thread(update.write, path, update.check(body))


@router.patch(
    "/config",
    operation_id="config.update",
    description=_PATCH,
    openapi_extra={
        "requestBody": {"content": {"application/json": {"schema": {"type": "object"}}}}
    },
)
async def update_config(request: Request, instance: CurrentInstance) -> Response:
    await _patch(update.project_file(instance.directory), request)
    cfg = await asyncio.to_thread(config.load, instance.directory)
    return json_response(_redacted(cfg))


@router.get("/global/config", operation_id="global.config.get", tags=["global"])
async def get_global_config() -> Response:
    return json_response(_redacted(await asyncio.to_thread(update.read_global)))


@router.patch(
    "/global/config",
    operation_id="global.config.update",
    tags=["global"],
    description="Like PATCH /config, on the user's config in $XDG_CONFIG_HOME/opencode.",
    openapi_extra={
        "requestBody": {"content": {"application/json": {"schema": {"type": "object"}}}}
    },
)
async def update_global_config(request: Request) -> Response:
    await _patch(await asyncio.to_thread(update.global_file), request)
    return json_response(_redacted(await asyncio.to_thread(update.read_global)))
