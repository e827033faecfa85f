"""SDK clients kept per endpoint and key, so a prompt does not build (and tear down) its own."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any, TypeVar

from pyopencode.provider.registry import ResolvedModel

C = TypeVar("C")

# Each client holds an HTTP connection pool (and its TLS context, the costly part to build).
# Endpoints rarely change; the bound only stops a stream of distinct keys from piling up.
MAX_CLIENTS = 32
_clients: OrderedDict[tuple[Any, ...], Any] = OrderedDict()


def client_for(kind: type[C], model: ResolvedModel, build: Callable[..., C]) -> C:
    """The `kind` client for the model's endpoint, key and headers, built once."""
    headers = tuple(sorted((model.headers or {}).items()))
    key = (kind, model.api_key, model.base_url, headers)
    found = _clients.get(key)
    if found is None:
        # Retries belong to the agent loop, which shows them to clients as session.status.
        found = build(
            api_key=model.api_key or "none",
            base_url=model.base_url or None,
            max_retries=0,
            default_headers=model.headers or None,
            timeout=600,
        )
        _clients[key] = found
        if len(_clients) > MAX_CLIENTS:
            # Not closed: a stream may still be reading through it; its pool goes with it.
            _clients.popitem(last=False)
    else:
        _clients.move_to_end(key)
    client: C = found
    return client
