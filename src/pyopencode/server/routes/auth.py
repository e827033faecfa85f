"""`PUT|DELETE /auth/{providerID}`: provider credentials kept in auth.json for the providers."""

from __future__ import annotations

import asyncio
from typing import Annotated, Literal

from fastapi import APIRouter, Body, Path
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from pyopencode.provider import auth
from pyopencode.server.json import JsonRoute, true_response

router = APIRouter(tags=["auth"], route_class=JsonRoute)

_SECRET = 16 * 1024
ProviderID = Annotated[str, Path(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._@-]+$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class OAuth(Strict):
    type: Literal["oauth"]
    refresh: str = Field(max_length=_SECRET)
    access: str = Field(max_length=_SECRET)
    expires: int = Field(ge=0)
    accountId: str | None = Field(default=None, max_length=1024)
    enterpriseUrl: str | None = Field(default=None, max_length=4096)


class ApiAuth(Strict):
    type: Literal["api"]
    key: str = Field(min_length=1, max_length=_SECRET)
    metadata: dict[str, Annotated[str, Field(max_length=4096)]] | None = Field(
        default=None, max_length=64
    )


class WellKnownAuth(Strict):
    type: Literal["wellknown"]
    key: str = Field(max_length=_SECRET)
    token: str = Field(max_length=_SECRET)


Credential = Annotated[OAuth | ApiAuth | WellKnownAuth, Field(discriminator="type")]

_WHERE = (
    " Credentials live in OpenCode's own auth.json ($XDG_DATA_HOME/opencode/auth.json, mode "
    "0600); a provider without `options.apiKey` in opencode.json uses the stored key."
)


@router.put(
    "/auth/{providerID}",
    operation_id="auth.set",
    description="Stores a provider credential." + _WHERE,
)
async def set_auth(providerID: ProviderID, body: Annotated[Credential, Body()]) -> Response:
    await asyncio.to_thread(auth.set, providerID, body.model_dump(exclude_none=True))
    return true_response()


@router.delete(
    "/auth/{providerID}",
    operation_id="auth.remove",
    description="Forgets a provider credential (true also when none was stored)." + _WHERE,
)
async def remove_auth(providerID: ProviderID) -> Response:
    await asyncio.to_thread(auth.remove, providerID)
    return true_response()
