"""Providers and models from the `provider` and `model` config sections, in the API's shapes."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from pyopencode.errors import BadRequestError
from pyopencode.provider import auth
from pyopencode.vocab import Json

_ANTHROPIC_NPM = "@ai-sdk/anthropic"
_OPENAI_NPM = "@ai-sdk/openai-compatible"
_DEFAULT_URLS = {"openai": "https://api.openai.com/v1", "anthropic": "https://api.anthropic.com"}
_KEY_ENV = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY"}

HOW_TO_CONFIGURE = (
    "Add a `provider` section and a `model` to opencode.json, e.g. "
    '{"provider": {"openai": {"options": {"apiKey": "{env:OPENAI_API_KEY}"}, '
    '"models": {"gpt-4o-mini": {}}}}, "model": "openai/gpt-4o-mini"} '
    '(see the README, section "Models and agents"), '
    "or send `noReply: true` to only store the message."
)


class NoProviderError(BadRequestError):
    def __init__(self) -> None:
        super().__init__(f"No model provider is configured. {HOW_TO_CONFIGURE}", field="model")


class ModelNotFoundError(BadRequestError):
    def __init__(self, provider_id: str, model_id: str) -> None:
        super().__init__(
            f"Model not found: {provider_id}/{model_id}. {HOW_TO_CONFIGURE}", field="model"
        )


@dataclass(frozen=True, slots=True)
class ResolvedModel:
    """Everything needed to call one model."""

    provider_id: str
    model_id: str
    api: str  # "openai" (chat completions) or "anthropic" (messages)
    base_url: str | None
    api_key: str | None
    cost: Json = field(default_factory=dict)
    options: Json = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    max_output: int = 4096
    # The model's context window from config `limit.context`; 0 when unknown.
    context: int = 0
    # Whether the model takes image input (config `modalities.input` or `attachment`).
    images: bool = False


def request_options(options: Json, allowed: frozenset[str]) -> Json:
    """The options a request takes, camelCase (as opencode.json writes them) to snake_case.

    Provider-level settings (timeout, setCacheKey, ...) are not request parameters and would
    make the SDK call fail, so anything not in `allowed` is left out.
    """
    out: Json = {}
    for key, value in options.items():
        snake = "".join(f"_{c.lower()}" if c.isupper() else c for c in key)
        if snake in allowed:
            out[snake] = value
    return out


def _api(provider_id: str, npm: str | None) -> str:
    if npm == _ANTHROPIC_NPM or (npm is None and provider_id == "anthropic"):
        return "anthropic"
    return "openai"


def _providers(config: Json) -> dict[str, Json]:
    section = config.get("provider") or {}
    disabled = set(config.get("disabled_providers") or [])
    enabled = config.get("enabled_providers")
    out: dict[str, Json] = {}
    for pid, spec in section.items():
        if not isinstance(spec, dict) or pid in disabled:
            continue
        if enabled is not None and pid not in enabled:
            continue
        out[pid] = spec
    return out


def _model_id(spec: Json, key: str) -> str:
    return str(spec.get("id") or key)


def resolve(config: Json, provider_id: str, model_id: str) -> ResolvedModel:

    providers = _providers(config)
    spec = providers.get(provider_id)
    if spec is None:
        if not providers:
            raise NoProviderError()
        raise ModelNotFoundError(provider_id, model_id)
    models = spec.get("models") or {}
    model = models.get(model_id)
    if model is None and models:
        raise ModelNotFoundError(provider_id, model_id)
    model = model or {}
    options = {**(spec.get("options") or {}), **(model.get("options") or {})}
    api = _api(provider_id, (model.get("provider") or {}).get("npm") or spec.get("npm"))
    # opencode.json first, then a key stored with PUT /auth/{id}, then the environment.
    key = options.pop("apiKey", None) or auth.key(provider_id) or os.environ.get(_KEY_ENV[api])
    base_url = options.pop("baseURL", None) or (spec.get("api") if spec.get("api") else None)
    return ResolvedModel(
        provider_id=provider_id,
        model_id=_model_id(model, model_id),
        api=api,
        base_url=base_url,
        api_key=key,
        cost=model.get("cost") or {},
        options=options,
        headers={**(options.pop("headers", None) or {}), **(model.get("headers") or {})},
        max_output=int((model.get("limit") or {}).get("output") or 4096),
        context=int((model.get("limit") or {}).get("context") or 0),
        images=_takes_images(model),
    )


def _takes_images(model: Json) -> bool:
    inputs = (model.get("modalities") or {}).get("input")
    if isinstance(inputs, list):
        return "image" in inputs
    return model.get("attachment") is True


def default_model(config: Json) -> tuple[str, str]:
    """The configured `model`, else the first model of the first provider."""
    chosen = config.get("model")
    if isinstance(chosen, str) and "/" in chosen:
        provider_id, model_id = chosen.split("/", 1)
        return provider_id, model_id
    for pid, spec in _providers(config).items():
        for key in spec.get("models") or {}:
            return pid, key
    raise NoProviderError()


def _model_json(provider_id: str, key: str, spec: Json, api: str, url: str) -> Json:
    cost = spec.get("cost") or {}
    limit = spec.get("limit") or {}
    modalities = {"text": True, "audio": False, "image": False, "video": False, "pdf": False}
    return {
        "id": key,
        "providerID": provider_id,
        "api": {
            "id": _model_id(spec, key),
            "url": url,
            "npm": _ANTHROPIC_NPM if api == "anthropic" else _OPENAI_NPM,
        },
        "name": spec.get("name") or key,
        "capabilities": {
            "temperature": spec.get("temperature", True),
            "reasoning": spec.get("reasoning", False),
            "attachment": spec.get("attachment", False),
            "toolcall": spec.get("tool_call", True),
            "input": modalities,
            "output": modalities,
            "interleaved": False,
        },
        "cost": {
            "input": cost.get("input", 0),
            "output": cost.get("output", 0),
            "cache": {"read": cost.get("cache_read", 0), "write": cost.get("cache_write", 0)},
        },
        "limit": {"context": limit.get("context", 0), "output": limit.get("output", 0)},
        "status": spec.get("status", "active"),
        "options": spec.get("options") or {},
        "headers": spec.get("headers") or {},
        "release_date": spec.get("release_date", ""),
    }


def list_providers(config: Json) -> list[Json]:
    """Configured providers as the API's `Provider` objects; secrets are never included."""
    out = []
    for pid, spec in _providers(config).items():
        api = _api(pid, spec.get("npm"))
        options = {k: v for k, v in (spec.get("options") or {}).items() if k != "apiKey"}
        url = options.get("baseURL") or _DEFAULT_URLS[api]
        models = {
            key: _model_json(pid, key, model if isinstance(model, dict) else {}, api, url)
            for key, model in (spec.get("models") or {}).items()
        }
        out.append(
            {
                "id": pid,
                "name": spec.get("name") or pid,
                "source": "config",
                "env": [_KEY_ENV[api]],
                "options": options,
                "models": models,
            }
        )
    return out
