"""`/api/*` beyond sessions: health, one provider, permissions, events, integrations, credentials.

Integrations are the configured providers plus any with a stored key; their credentials are
the entries of auth.json (one per provider, id `cred_<providerID>`), so v1's `/auth/{id}`
and v2 see and change the same keys.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Body, Path
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response, StreamingResponse

from pyopencode import config, ids
from pyopencode import provider as providers
from pyopencode.bus import is_public
from pyopencode.project import Instance
from pyopencode.provider import auth
from pyopencode.server.json import JsonRoute, json_response
from pyopencode.server.routes.tui import (
    Location,
    _location_json,
    _provider_v2,
)
from pyopencode.server.routes.unsupported import OAUTH
from pyopencode.server.state import AppState

router = APIRouter(tags=["v2"], route_class=JsonRoute)

Json = dict[str, Any]
_CRED = "cred_"
_ENV = {"@ai-sdk/anthropic": "ANTHROPIC_API_KEY"}
Id = Annotated[str, Path(min_length=1, max_length=128)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class ConnectKey(Strict):
    key: str = Field(min_length=1, max_length=16 * 1024)
    label: str | None = Field(default=None, max_length=256)


class CredentialUpdate(Strict):
    label: str = Field(max_length=256)


def _invalid(message: str, status: int = 400) -> Response:
    return json_response({"_tag": "InvalidRequestError", "message": message}, status)


def _v2(instance: Instance, data: Any) -> Response:
    return json_response({"location": _location_json(instance), "data": data})


def _no_content() -> Response:
    return Response(status_code=204)


@router.get("/api/health", operation_id="v2.health.get")
async def health() -> Response:
    return json_response({"healthy": True})


@router.get("/api/provider/{providerID}", operation_id="v2.provider.get")
async def provider_get(instance: Location, providerID: Id) -> Response:
    cfg = await asyncio.to_thread(config.load, instance.directory)
    for found in providers.list_providers(cfg):
        if found["id"] == providerID:
            return _v2(instance, _provider_v2(found, cfg))
    return json_response(
        {
            "_tag": "ProviderNotFoundError",
            "providerID": providerID,
            "message": f"Provider not found: {providerID}",
        },
        404,
    )


# --- permissions


def _permission_v2(request: Json) -> Json:
    out: Json = {
        "id": request["id"],
        "sessionID": request["sessionID"],
        "action": request["permission"],
        "resources": list(request.get("patterns", [])),
        "save": list(request.get("always", [])),
        "metadata": request.get("metadata") or {},
    }
    tool = request.get("tool")
    if isinstance(tool, dict) and "messageID" in tool and "callID" in tool:
        out["source"] = {"type": "tool", "messageID": tool["messageID"], "callID": tool["callID"]}
    return out


@router.get("/api/permission/request", operation_id="v2.permission.request.list")
async def permission_requests(state: AppState, instance: Location) -> Response:
    pending = state.agent_runner().permissions.requests()
    return _v2(instance, [_permission_v2(r) for r in pending])


_SAVED = (
    "pyopencode keeps an `always` grant for the session it was given in, and saves none "
    "across sessions: the list is always empty and there is nothing to remove."
)


@router.get("/api/permission/saved", operation_id="v2.permission.saved.list", description=_SAVED)
async def permission_saved(projectID: str | None = None) -> Response:
    return json_response({"data": []})


@router.delete(
    "/api/permission/saved/{id}", operation_id="v2.permission.saved.remove", description=_SAVED
)
async def permission_saved_remove(id: Id) -> Response:
    return _invalid(f"No saved permission {id}: {_SAVED}")


# --- events


async def _events(state: Any, directory: str) -> AsyncIterator[bytes]:
    sub = state.bus.subscribe(lambda e: e.directory == directory and is_public(e))
    try:
        yield (
            b"data: "
            + orjson.dumps({"id": ids.ascending("evt"), "type": "server.connected", "data": {}})
            + b"\n\n"
        )
        while True:
            try:
                event = await sub.next(state.settings.heartbeat_seconds)
            except StopAsyncIteration:
                return
            if event is None:
                yield b": heartbeat\n\n"
                continue
            body = {"id": event.id, "type": event.type, "data": event.properties}
            yield b"data: " + orjson.dumps(body) + b"\nid: " + event.id.encode() + b"\n\n"
    finally:
        sub.close()


@router.get(
    "/api/event",
    operation_id="v2.event.subscribe",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "Event stream"}},
    description="Server-Sent Events of the location, each `{id, type, data}` as upstream's v2.",
)
async def events(state: AppState, instance: Location) -> StreamingResponse:
    return StreamingResponse(
        _events(state, instance.directory),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


# --- integrations and credentials (auth.json)


def _methods(npm: str | None) -> list[Json]:
    env = _ENV.get(npm or "", "OPENAI_API_KEY")
    return [{"type": "key"}, {"type": "env", "names": [env]}]


def _connections(provider_id: str, stored: dict[str, Json]) -> list[Json]:
    credential = stored.get(provider_id)
    if credential is None:
        return []
    label = (credential.get("metadata") or {}).get("label") or (
        "OAuth" if credential.get("type") == "oauth" else "API key"
    )
    return [{"type": "credential", "id": _CRED + provider_id, "label": str(label)}]


async def _integrations(instance: Instance) -> list[Json]:
    cfg = await asyncio.to_thread(config.load, instance.directory)
    stored = await asyncio.to_thread(auth.load)
    out: list[Json] = []
    seen: set[str] = set()
    for found in providers.list_providers(cfg):
        npm = ((cfg.get("provider") or {}).get(found["id"]) or {}).get("npm")
        out.append(
            {
                "id": found["id"],
                "name": found["name"],
                "methods": _methods(npm),
                "connections": _connections(found["id"], stored),
            }
        )
        seen.add(found["id"])
    for provider_id in sorted(stored.keys() - seen):
        out.append(
            {
                "id": provider_id,
                "name": provider_id,
                "methods": _methods(None),
                "connections": _connections(provider_id, stored),
            }
        )
    return out


@router.get("/api/integration", operation_id="v2.integration.list")
async def integration_list(instance: Location) -> Response:
    return _v2(instance, await _integrations(instance))


@router.get("/api/integration/{integrationID}", operation_id="v2.integration.get")
async def integration_get(instance: Location, integrationID: Id) -> Response:
    for found in await _integrations(instance):
        if found["id"] == integrationID:
            return _v2(instance, found)
    return _invalid(f"Integration not found: {integrationID}")


@router.post(
    "/api/integration/{integrationID}/connect/key",
    operation_id="v2.integration.connect.key",
    status_code=204,
    description="Stores the key in auth.json, as PUT /auth/{providerID} does.",
)
async def integration_connect_key(
    instance: Location, integrationID: Id, body: Annotated[ConnectKey, Body()]
) -> Response:
    credential: Json = {"type": "api", "key": body.key}
    if body.label:
        credential["metadata"] = {"label": body.label}
    await asyncio.to_thread(auth.set, integrationID, credential)
    return _no_content()


def _oauth_refusal(path: str, method: str, operation_id: str) -> None:
    async def refuse(instance: Location) -> Response:
        return _invalid(OAUTH)

    router.add_api_route(
        path,
        refuse,
        methods=[method],
        operation_id=operation_id,
        summary="Not supported by pyopencode",
        description=f"Not supported: {OAUTH} Always answers 400 and changes nothing.",
        # The handler reads no path parameter, so /doc is told of them here.
        openapi_extra={
            "parameters": [
                {"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
                for n in re.findall(r"\{(\w+)\}", path)
            ]
        },
    )


_oauth_refusal(
    "/api/integration/{integrationID}/connect/oauth", "POST", "v2.integration.connect.oauth"
)
_oauth_refusal("/api/integration/attempt/{attemptID}", "GET", "v2.integration.attempt.status")
_oauth_refusal("/api/integration/attempt/{attemptID}", "DELETE", "v2.integration.attempt.cancel")
_oauth_refusal(
    "/api/integration/attempt/{attemptID}/complete", "POST", "v2.integration.attempt.complete"
)


def _provider_of(credential_id: str) -> str | None:
    return credential_id[len(_CRED) :] if credential_id.startswith(_CRED) else None


@router.patch(
    "/api/credential/{credentialID}", operation_id="v2.credential.update", status_code=204
)
async def credential_update(
    instance: Location, credentialID: Id, body: Annotated[CredentialUpdate, Body()]
) -> Response:
    provider_id = _provider_of(credentialID)
    stored = await asyncio.to_thread(auth.load)
    if provider_id is None or provider_id not in stored:
        return _invalid(f"Credential not found: {credentialID}")
    credential = dict(stored[provider_id])
    if credential.get("type") != "api":
        return _invalid("Only API key credentials carry a label")
    credential["metadata"] = {**(credential.get("metadata") or {}), "label": body.label}
    await asyncio.to_thread(auth.set, provider_id, credential)
    return _no_content()


@router.delete(
    "/api/credential/{credentialID}", operation_id="v2.credential.remove", status_code=204
)
async def credential_remove(instance: Location, credentialID: Id) -> Response:
    provider_id = _provider_of(credentialID)
    removed = provider_id is not None and await asyncio.to_thread(auth.remove, provider_id)
    if not removed:
        return _invalid(f"Credential not found: {credentialID}")
    return _no_content()
