"""OpenCode 1.18.33 message models; serialise with model_dump(exclude_none=True, by_alias=True)."""

# Notes for callers:
# * Optional spec fields default to None and the spec never allows null for them, so always
#   serialise with ``model_dump(exclude_none=True, by_alias=True)``. ``by_alias`` matters for
#   OutputFormatJsonSchema, whose ``schema`` field is stored as ``schema_`` in Python because
#   ``schema`` shadows a BaseModel attribute.
# * APIError lives in ``part.py`` (RetryPart needs it and ``part`` must not import this module,
#   which imports ``Part``); it is re-exported here so both modules offer it.
from typing import Annotated, Any, Literal

from pydantic import Field

from pyopencode.model.part import (
    APIError,
    APIErrorData,
    JsonObject,
    MessageID,
    NonNegativeInt,
    NonNegativeNumber,
    Number,
    OpenCodeModel,
    Part,
    SessionID,
    Tokens,
    TokensCache,
)

__all__ = [
    "APIError",
    "APIErrorData",
    "AssistantMessage",
    "AssistantMessageError",
    "AssistantMessagePath",
    "AssistantMessageTime",
    "ContentFilterError",
    "ContentFilterErrorData",
    "ContextOverflowError",
    "ContextOverflowErrorData",
    "Message",
    "MessageAbortedError",
    "MessageAbortedErrorData",
    "MessageOutputLengthError",
    "MessageWithParts",
    "OutputFormat",
    "OutputFormatJsonSchema",
    "OutputFormatText",
    "ProviderAuthError",
    "ProviderAuthErrorData",
    "SnapshotFileDiff",
    "StructuredOutputError",
    "StructuredOutputErrorData",
    "Tokens",
    "TokensCache",
    "UnknownError",
    "UnknownErrorData",
    "UserMessage",
    "UserMessageModel",
    "UserMessageSummary",
    "UserMessageTime",
]


# --- output format ------------------------------------------------------------------------


class OutputFormatText(OpenCodeModel):
    type: Literal["text"]


class OutputFormatJsonSchema(OpenCodeModel):
    type: Literal["json_schema"]
    schema_: JsonObject = Field(alias="schema")
    retryCount: NonNegativeInt | None = None


OutputFormat = Annotated[OutputFormatText | OutputFormatJsonSchema, Field(discriminator="type")]


# --- user message -------------------------------------------------------------------------


class SnapshotFileDiff(OpenCodeModel):
    file: str | None = None
    patch: str | None = None
    additions: Number
    deletions: Number
    status: Literal["added", "deleted", "modified"] | None = None


class UserMessageTime(OpenCodeModel):
    # The spec types this one as "number" (not "integer") with minimum 0.
    created: NonNegativeNumber


class UserMessageSummary(OpenCodeModel):
    title: str | None = None
    body: str | None = None
    diffs: list[SnapshotFileDiff]


class UserMessageModel(OpenCodeModel):
    providerID: str
    modelID: str
    variant: str | None = None


class UserMessage(OpenCodeModel):
    id: MessageID
    sessionID: SessionID
    role: Literal["user"]
    time: UserMessageTime
    format: OutputFormat | None = None
    summary: UserMessageSummary | None = None
    agent: str
    model: UserMessageModel
    system: str | None = None
    tools: dict[str, bool] | None = None


# --- assistant errors ---------------------------------------------------------------------


class ProviderAuthErrorData(OpenCodeModel):
    providerID: str
    message: str


class ProviderAuthError(OpenCodeModel):
    name: Literal["ProviderAuthError"]
    data: ProviderAuthErrorData


class UnknownErrorData(OpenCodeModel):
    message: str
    ref: str | None = None


class UnknownError(OpenCodeModel):
    name: Literal["UnknownError"]
    data: UnknownErrorData


class MessageOutputLengthError(OpenCodeModel):
    name: Literal["MessageOutputLengthError"]
    # The spec declares ``{"type": "object", "properties": {}}`` without additionalProperties:
    # false, so any JSON object is allowed here (upstream always sends ``{}``).
    data: JsonObject


class MessageAbortedErrorData(OpenCodeModel):
    message: str


class MessageAbortedError(OpenCodeModel):
    name: Literal["MessageAbortedError"]
    data: MessageAbortedErrorData


class StructuredOutputErrorData(OpenCodeModel):
    message: str
    retries: NonNegativeInt


class StructuredOutputError(OpenCodeModel):
    name: Literal["StructuredOutputError"]
    data: StructuredOutputErrorData


class ContextOverflowErrorData(OpenCodeModel):
    message: str
    responseBody: str | None = None


class ContextOverflowError(OpenCodeModel):
    name: Literal["ContextOverflowError"]
    data: ContextOverflowErrorData


class ContentFilterErrorData(OpenCodeModel):
    message: str


class ContentFilterError(OpenCodeModel):
    name: Literal["ContentFilterError"]
    data: ContentFilterErrorData


AssistantMessageError = Annotated[
    ProviderAuthError
    | UnknownError
    | MessageOutputLengthError
    | MessageAbortedError
    | StructuredOutputError
    | ContextOverflowError
    | ContentFilterError
    | APIError,
    Field(discriminator="name"),
]


# --- assistant message --------------------------------------------------------------------


class AssistantMessageTime(OpenCodeModel):
    created: NonNegativeInt
    completed: NonNegativeInt | None = None


class AssistantMessagePath(OpenCodeModel):
    cwd: str
    root: str


class AssistantMessage(OpenCodeModel):
    id: MessageID
    sessionID: SessionID
    role: Literal["assistant"]
    time: AssistantMessageTime
    error: AssistantMessageError | None = None
    parentID: MessageID
    modelID: str
    providerID: str
    mode: str
    agent: str
    path: AssistantMessagePath
    summary: bool | None = None
    cost: Number
    tokens: Tokens
    # The spec schema is ``{}`` (any JSON value). A JSON null here is indistinguishable from
    # "absent" and is dropped by exclude_none.
    structured: Any = None
    variant: str | None = None
    finish: str | None = None


Message = Annotated[UserMessage | AssistantMessage, Field(discriminator="role")]


class MessageWithParts(OpenCodeModel):
    """One entry of ``GET /session/{sessionID}/message``: ``{info, parts}``."""

    info: Message
    parts: list[Part]
