"""OAuth for remote MCP servers through the SDK's client: tokens in memory, one flow per server."""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qs, urlsplit

from mcp.client.auth import AuthorizationCodeResult, OAuthClientProvider
from mcp.shared.auth import OAuthClientInformationFull, OAuthClientMetadata, OAuthToken
from pydantic import AnyUrl

from pyopencode.mcp.config import RemoteConfig

# Where the authorization server sends the user back, unless `oauth.redirectUri` says;
# upstream's default. Whoever sees that redirect hands its `code` to /mcp/{name}/auth/callback.
DEFAULT_REDIRECT = "http://127.0.0.1:19876/mcp/oauth/callback"
# How long a started flow waits for its code before it gives up.
FLOW_SECONDS = 600.0


class NoInteraction(Exception):
    """Authorization is needed, but no flow was started to ask anyone."""


class Tokens:
    """The SDK's TokenStorage for one server, in this process's memory."""

    def __init__(self, client: OAuthClientInformationFull | None = None) -> None:
        self.tokens: OAuthToken | None = None
        self.client = client

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client = client_info


class Flow:
    """One authorization in progress: the URL to visit, then the code that comes back."""

    def __init__(self) -> None:
        loop = asyncio.get_running_loop()
        self.url: asyncio.Future[str] = loop.create_future()
        self.code: asyncio.Future[str] = loop.create_future()
        self.state = ""
        # The connection that goes on once the code arrives.
        self.task: asyncio.Task[None] | None = None

    async def redirect(self, url: str) -> None:
        self.state = (parse_qs(urlsplit(url).query).get("state") or [""])[0]
        if not self.url.done():
            self.url.set_result(url)

    async def callback(self) -> AuthorizationCodeResult:
        code = await asyncio.wait_for(asyncio.shield(self.code), FLOW_SECONDS)
        return AuthorizationCodeResult(code=code, state=self.state)


async def _refuse(_url: str) -> None:
    raise NoInteraction("authorization required")


async def _no_code() -> AuthorizationCodeResult:
    raise NoInteraction("authorization required")


def redirect_uri(config: RemoteConfig) -> str:
    return (config.oauth.redirectUri if config.oauth else None) or DEFAULT_REDIRECT


def storage_for(config: RemoteConfig) -> Tokens:
    """Fresh storage; a configured client id skips dynamic client registration."""
    oauth = config.oauth
    if not oauth or not oauth.clientId:
        return Tokens()
    client = OAuthClientInformationFull(
        client_id=oauth.clientId,
        client_secret=oauth.clientSecret,
        redirect_uris=[AnyUrl(redirect_uri(config))],
        token_endpoint_auth_method="client_secret_post" if oauth.clientSecret else "none",
    )
    return Tokens(client)


def provider(config: RemoteConfig, storage: Tokens, flow: Flow | None) -> OAuthClientProvider:
    """The SDK's httpx2 auth; without a flow, a login it would need fails as NoInteraction."""
    oauth = config.oauth or None
    metadata = OAuthClientMetadata(
        redirect_uris=[AnyUrl(redirect_uri(config))],
        client_name="pyopencode",
        grant_types=["authorization_code", "refresh_token"],
        response_types=["code"],
        scope=oauth.scope if oauth else None,
        token_endpoint_auth_method="client_secret_post" if oauth and oauth.clientSecret else "none",
    )
    return OAuthClientProvider(
        server_url=config.url,
        client_metadata=metadata,
        storage=storage,
        redirect_handler=flow.redirect if flow else _refuse,
        callback_handler=flow.callback if flow else _no_code,
    )
