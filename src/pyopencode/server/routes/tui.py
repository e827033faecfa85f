"""`/api/*`: the v2 listings the terminal UI reads at attach, in the reference's shapes."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from pyopencode import config
from pyopencode import provider as providers
from pyopencode.agent import list_agents
from pyopencode.errors import BadRequestError
from pyopencode.project import Instance
from pyopencode.server.instance import current_instance, resolve
from pyopencode.server.json import JsonRoute, json_response
from pyopencode.server.state import State

router = APIRouter(tags=["v2"], route_class=JsonRoute)

Json = dict[str, Any]

_OPENAI_NPM = "@ai-sdk/openai-compatible"
_ANTHROPIC_NPM = "@ai-sdk/anthropic"
_NAME_MAX = 255  # bytes in one path component (Linux, macOS); longer names cannot exist


async def _location(
    request: Request,
    directory: Annotated[str | None, Query(alias="location[directory]", max_length=4096)] = None,
    workspace: Annotated[str | None, Query(alias="location[workspace]", max_length=4096)] = None,
) -> Instance:
    """`?location[directory]=` (deepObject, as the v2 API names it), else the usual header."""
    if directory:
        if any(len(part.encode()) > _NAME_MAX for part in directory.split("/")):
            raise BadRequestError(
                f"A path component is longer than {_NAME_MAX} bytes",
                field="location[directory]",
                kind="Query",
            )
        state: State = request.app.state.pyopencode
        return await resolve(state, directory)
    return await current_instance(request)


def _location_json(instance: Instance) -> Json:
    return {
        "directory": instance.directory,
        "project": {"id": instance.project_id, "directory": instance.worktree},
    }


def _listing(instance: Instance, data: list[Json]) -> Response:
    return json_response({"location": _location_json(instance), "data": data})


async def _config(instance: Instance) -> Json:
    return await asyncio.to_thread(config.load, instance.directory)


def _agent_v2(agent: Json) -> Json:
    out: Json = {
        "id": agent["name"],
        "request": {"headers": {}, "body": {}},
        "description": agent.get("description", ""),
        "mode": agent["mode"],
        "hidden": bool(agent.get("hidden", False)),
        "permissions": [
            {"action": r["permission"], "resource": r["pattern"], "effect": r["action"]}
            for r in agent.get("permission", [])
        ],
    }
    if agent.get("model"):
        out["model"] = {"id": agent["model"]["modelID"], "providerID": agent["model"]["providerID"]}
    if agent.get("prompt"):
        out["system"] = agent["prompt"]
    if agent.get("steps"):
        out["steps"] = agent["steps"]
    return out


def _package(provider: Json, cfg: Json) -> str:
    npm = ((cfg.get("provider") or {}).get(provider["id"]) or {}).get("npm")
    if isinstance(npm, str):
        return npm
    for model in provider.get("models", {}).values():
        return str(model["api"]["npm"])
    return _ANTHROPIC_NPM if provider["id"] == "anthropic" else _OPENAI_NPM


def _provider_v2(provider: Json, cfg: Json) -> Json:
    api: Json = {"type": "aisdk", "package": _package(provider, cfg)}
    url = provider.get("options", {}).get("baseURL")
    if isinstance(url, str):
        api["url"] = url
    return {
        "id": provider["id"],
        "name": provider["name"],
        "api": api,
        "request": {"headers": {}, "body": {}},
    }


def _modalities(flags: Json) -> list[str]:
    return [name for name, on in flags.items() if on]


def _model_v2(model: Json) -> Json:
    caps = model["capabilities"]
    limit = model["limit"]
    return {
        "id": model["id"],
        "providerID": model["providerID"],
        "name": model["name"],
        "api": {
            "id": model["api"]["id"],
            "type": "aisdk",
            "package": model["api"]["npm"],
            "url": model["api"]["url"],
        },
        "capabilities": {
            "tools": bool(caps.get("toolcall", True)),
            "input": _modalities(caps.get("input", {})),
            "output": _modalities(caps.get("output", {})),
        },
        "request": {"headers": dict(model.get("headers") or {}), "body": {}},
        "variants": [],
        # The config gives no release date as a timestamp; 0 says "unknown".
        "time": {"released": 0},
        "cost": [model["cost"]],
        "status": model["status"],
        "enabled": True,
        "limit": {"context": int(limit["context"]), "output": int(limit["output"])},
    }


Location = Annotated[Instance, Depends(_location)]


@router.get("/api/location", operation_id="v2.location.get")
async def location(instance: Location) -> Response:
    return json_response(_location_json(instance))


@router.get("/api/agent", operation_id="v2.agent.list")
async def agents(instance: Location) -> Response:
    cfg = await _config(instance)
    return _listing(instance, [_agent_v2(a.to_json()) for a in list_agents(cfg)])


@router.get("/api/provider", operation_id="v2.provider.list")
async def provider_list(instance: Location) -> Response:
    cfg = await _config(instance)
    return _listing(instance, [_provider_v2(p, cfg) for p in providers.list_providers(cfg)])


@router.get("/api/model", operation_id="v2.model.list")
async def models(instance: Location) -> Response:
    cfg = await _config(instance)
    data = [
        _model_v2(model)
        for p in providers.list_providers(cfg)
        for model in p.get("models", {}).values()
    ]
    return _listing(instance, data)


# pyopencode runs no slash commands, skills or file references: these listings are truthfully
# empty. Integrations (providers and their stored keys) are in server/routes/v2.py.


@router.get("/api/command", operation_id="v2.command.list")
async def commands(instance: Location) -> Response:
    return _listing(instance, [])


@router.get("/api/skill", operation_id="v2.skill.list")
async def skills(instance: Location) -> Response:
    return _listing(instance, [])


@router.get("/api/reference", operation_id="v2.reference.list")
async def references(instance: Location) -> Response:
    return _listing(instance, [])
