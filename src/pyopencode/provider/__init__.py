"""Model providers: configuration, resolution, and streaming through the official SDKs."""

from pyopencode.provider.registry import (
    ModelNotFoundError,
    NoProviderError,
    ResolvedModel,
    default_model,
    list_providers,
    resolve,
)
from pyopencode.provider.stream import (
    AuthError,
    Finish,
    ProviderError,
    ReasoningDelta,
    StreamDropped,
    StreamEvent,
    TextDelta,
    ToolCallEnd,
    ToolCallStart,
    Usage,
    stream,
)

__all__ = [
    "AuthError",
    "Finish",
    "ModelNotFoundError",
    "NoProviderError",
    "ProviderError",
    "ReasoningDelta",
    "ResolvedModel",
    "StreamDropped",
    "StreamEvent",
    "TextDelta",
    "ToolCallEnd",
    "ToolCallStart",
    "Usage",
    "default_model",
    "list_providers",
    "resolve",
    "stream",
]
