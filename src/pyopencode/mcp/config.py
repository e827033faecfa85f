"""The `mcp` section of opencode.json: one typed entry per server, as upstream spells it."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

# Milliseconds to connect and list tools when `timeout` is not set, as upstream documents.
DEFAULT_TIMEOUT_MS = 5000


class OAuthConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    clientId: str | None = None
    clientSecret: str | None = None
    scope: str | None = None
    callbackPort: Annotated[int, Field(ge=1, le=65535)] | None = None
    redirectUri: str | None = None


class LocalConfig(BaseModel):
    """McpLocalConfig: a command run as a child process, spoken to over stdio."""

    model_config = ConfigDict(extra="forbid", strict=True)

    type: Literal["local"]
    command: Annotated[list[str], Field(min_length=1)]
    cwd: str | None = None
    environment: dict[str, str] | None = None
    enabled: bool | None = None
    timeout: Annotated[int, Field(gt=0)] | None = None


class RemoteConfig(BaseModel):
    """McpRemoteConfig: a server over streamable HTTP, with SSE as the fallback."""

    model_config = ConfigDict(extra="forbid", strict=True)

    type: Literal["remote"]
    url: str
    enabled: bool | None = None
    headers: dict[str, str] | None = None
    oauth: OAuthConfig | Literal[False] | None = None
    timeout: Annotated[int, Field(gt=0)] | None = None


ServerConfig = Annotated[LocalConfig | RemoteConfig, Field(discriminator="type")]
_ADAPTER: TypeAdapter[LocalConfig | RemoteConfig] = TypeAdapter(ServerConfig)


class InvalidEntry(ValueError):
    """A configured server whose entry does not parse; it shows as `failed`."""


def parse(entry: Any) -> LocalConfig | RemoteConfig:
    try:
        return _ADAPTER.validate_python(entry)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "entry"
        raise InvalidEntry(f"Invalid MCP config: {where}: {first.get('msg')}") from exc


def timeout_seconds(config: LocalConfig | RemoteConfig) -> float:
    return (config.timeout or DEFAULT_TIMEOUT_MS) / 1000


def section(cfg: dict[str, Any]) -> dict[str, Any]:
    """The raw `mcp` entries of a loaded configuration, by server name."""
    value = cfg.get("mcp")
    return dict(value) if isinstance(value, dict) else {}
