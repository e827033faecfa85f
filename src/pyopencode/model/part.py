"""OpenCode 1.18.33 part models; serialise with model_dump(exclude_none=True, by_alias=True)."""

# Notes for callers:
# * Optional spec fields are typed ``X | None`` and default to None. The spec never allows
#   null for them, so always serialise with ``model_dump(exclude_none=True, by_alias=True)``
#   (or ``model_dump_json(exclude_none=True, by_alias=True)``); ``exclude_none`` only drops
#   None-valued *fields*, never None values inside free-form dicts such as ``metadata``.
# * Every closed object is ``extra="forbid"`` and validation is strict (no "5" -> 5 coercion),
#   so wrong JSON types are rejected the way the reference zod schemas reject them.
from typing import Annotated, Any, Literal

from pydantic import AllowInfNan, BaseModel, ConfigDict, Field, Strict

__all__ = [
    "APIError",
    "APIErrorData",
    "AgentPart",
    "AgentPartInput",
    "AgentPartSource",
    "CompactionPart",
    "FilePart",
    "FilePartInput",
    "FilePartSource",
    "FilePartSourceText",
    "FileSource",
    "JsonObject",
    "MessageID",
    "ModelRef",
    "NonNegativeInt",
    "NonNegativeNumber",
    "Number",
    "OpenCodeModel",
    "Part",
    "PartID",
    "PartInput",
    "PartTime",
    "PatchPart",
    "Range",
    "RangePosition",
    "ReasoningPart",
    "ResourceSource",
    "RetryPart",
    "RetryPartTime",
    "SessionID",
    "SnapshotPart",
    "StepFinishPart",
    "StepStartPart",
    "SubtaskPart",
    "SubtaskPartInput",
    "SymbolSource",
    "TextPart",
    "TextPartInput",
    "Tokens",
    "TokensCache",
    "ToolPart",
    "ToolState",
    "ToolStateCompleted",
    "ToolStateCompletedTime",
    "ToolStateError",
    "ToolStateErrorTime",
    "ToolStatePending",
    "ToolStateRunning",
    "ToolStateRunningTime",
]

# --- shared scalar types ------------------------------------------------------------------

# Each alias carries Strict() so it stays strict even outside an OpenCodeModel (TypeAdapter).
SessionID = Annotated[str, Strict(), Field(pattern=r"^ses")]
MessageID = Annotated[str, Strict(), Field(pattern=r"^msg")]
PartID = Annotated[str, Strict(), Field(pattern=r"^prt")]

# JSON Schema "number": ints stay ints and floats stay floats on a round trip.
_Float = Annotated[float, Strict(), AllowInfNan(False)]
Number = Annotated[int, Strict()] | _Float
NonNegativeNumber = Annotated[int, Strict(), Field(ge=0)] | Annotated[_Float, Field(ge=0)]
NonNegativeInt = Annotated[int, Strict(), Field(ge=0)]

# JSON Schema ``{"type": "object"}`` with no declared properties: any JSON object.
JsonObject = dict[str, Any]


class OpenCodeModel(BaseModel):
    """Base for every spec object declared with additionalProperties: false."""

    model_config = ConfigDict(extra="forbid", strict=True)


# --- small nested objects -----------------------------------------------------------------


class PartTime(OpenCodeModel):
    """``time`` of TextPart, ReasoningPart and TextPartInput."""

    start: NonNegativeInt
    end: NonNegativeInt | None = None


class ModelRef(OpenCodeModel):
    """``model`` of SubtaskPart / SubtaskPartInput."""

    providerID: str
    modelID: str


class AgentPartSource(OpenCodeModel):
    """``source`` of AgentPart / AgentPartInput."""

    value: str
    start: NonNegativeInt
    end: NonNegativeInt


class TokensCache(OpenCodeModel):
    read: Number
    write: Number


class Tokens(OpenCodeModel):
    """``tokens`` of StepFinishPart and AssistantMessage."""

    total: Number | None = None
    input: Number
    output: Number
    reasoning: Number
    cache: TokensCache


# --- file sources -------------------------------------------------------------------------


class FilePartSourceText(OpenCodeModel):
    value: str
    start: Number
    end: Number


class FileSource(OpenCodeModel):
    text: FilePartSourceText
    type: Literal["file"]
    path: str


class RangePosition(OpenCodeModel):
    line: NonNegativeInt
    character: NonNegativeInt


class Range(OpenCodeModel):
    start: RangePosition
    end: RangePosition


class SymbolSource(OpenCodeModel):
    text: FilePartSourceText
    type: Literal["symbol"]
    path: str
    range: Range
    name: str
    kind: NonNegativeInt


class ResourceSource(OpenCodeModel):
    text: FilePartSourceText
    type: Literal["resource"]
    clientName: str
    uri: str


FilePartSource = Annotated[FileSource | SymbolSource | ResourceSource, Field(discriminator="type")]


# --- API error (referenced by RetryPart and by AssistantMessage.error) ---------------------


class APIErrorData(OpenCodeModel):
    message: str
    statusCode: NonNegativeInt | None = None
    isRetryable: bool
    responseHeaders: dict[str, str] | None = None
    responseBody: str | None = None
    metadata: dict[str, str] | None = None


class APIError(OpenCodeModel):
    name: Literal["APIError"]
    data: APIErrorData


# --- file part (also a ToolStateCompleted attachment) ----------------------------------


class FilePart(OpenCodeModel):
    id: PartID
    sessionID: SessionID
    messageID: MessageID
    type: Literal["file"]
    mime: str
    filename: str | None = None
    url: str
    source: FilePartSource | None = None


# --- tool state ---------------------------------------------------------------------------


class ToolStatePending(OpenCodeModel):
    status: Literal["pending"]
    input: JsonObject
    raw: str


class ToolStateRunningTime(OpenCodeModel):
    start: NonNegativeInt


class ToolStateRunning(OpenCodeModel):
    status: Literal["running"]
    input: JsonObject
    title: str | None = None
    metadata: JsonObject | None = None
    time: ToolStateRunningTime


class ToolStateCompletedTime(OpenCodeModel):
    start: NonNegativeInt
    end: NonNegativeInt
    compacted: NonNegativeInt | None = None


class ToolStateCompleted(OpenCodeModel):
    status: Literal["completed"]
    input: JsonObject
    output: str
    title: str
    metadata: JsonObject
    time: ToolStateCompletedTime
    attachments: list[FilePart] | None = None


class ToolStateErrorTime(OpenCodeModel):
    start: NonNegativeInt
    end: NonNegativeInt


class ToolStateError(OpenCodeModel):
    status: Literal["error"]
    input: JsonObject
    error: str
    metadata: JsonObject | None = None
    time: ToolStateErrorTime


ToolState = Annotated[
    ToolStatePending | ToolStateRunning | ToolStateCompleted | ToolStateError,
    Field(discriminator="status"),
]


# --- parts --------------------------------------------------------------------------------


class TextPart(OpenCodeModel):
    id: PartID
    sessionID: SessionID
    messageID: MessageID
    type: Literal["text"]
    text: str
    synthetic: bool | None = None
    ignored: bool | None = None
    time: PartTime | None = None
    metadata: JsonObject | None = None


class SubtaskPart(OpenCodeModel):
    id: PartID
    sessionID: SessionID
    messageID: MessageID
    type: Literal["subtask"]
    prompt: str
    description: str
    agent: str
    model: ModelRef | None = None
    command: str | None = None


class ReasoningPart(OpenCodeModel):
    id: PartID
    sessionID: SessionID
    messageID: MessageID
    type: Literal["reasoning"]
    text: str
    metadata: JsonObject | None = None
    time: PartTime


class ToolPart(OpenCodeModel):
    id: PartID
    sessionID: SessionID
    messageID: MessageID
    type: Literal["tool"]
    callID: str
    tool: str
    state: ToolState
    metadata: JsonObject | None = None


class StepStartPart(OpenCodeModel):
    id: PartID
    sessionID: SessionID
    messageID: MessageID
    type: Literal["step-start"]
    snapshot: str | None = None


class StepFinishPart(OpenCodeModel):
    id: PartID
    sessionID: SessionID
    messageID: MessageID
    type: Literal["step-finish"]
    reason: str
    snapshot: str | None = None
    cost: Number
    tokens: Tokens


class SnapshotPart(OpenCodeModel):
    id: PartID
    sessionID: SessionID
    messageID: MessageID
    type: Literal["snapshot"]
    snapshot: str


class PatchPart(OpenCodeModel):
    id: PartID
    sessionID: SessionID
    messageID: MessageID
    type: Literal["patch"]
    hash: str
    files: list[str]


class AgentPart(OpenCodeModel):
    id: PartID
    sessionID: SessionID
    messageID: MessageID
    type: Literal["agent"]
    name: str
    source: AgentPartSource | None = None


class RetryPartTime(OpenCodeModel):
    created: NonNegativeInt


class RetryPart(OpenCodeModel):
    id: PartID
    sessionID: SessionID
    messageID: MessageID
    type: Literal["retry"]
    attempt: NonNegativeInt
    error: APIError
    time: RetryPartTime


class CompactionPart(OpenCodeModel):
    id: PartID
    sessionID: SessionID
    messageID: MessageID
    type: Literal["compaction"]
    auto: bool
    overflow: bool | None = None
    tail_start_id: MessageID | None = None


Part = Annotated[
    TextPart
    | SubtaskPart
    | ReasoningPart
    | FilePart
    | ToolPart
    | StepStartPart
    | StepFinishPart
    | SnapshotPart
    | PatchPart
    | AgentPart
    | RetryPart
    | CompactionPart,
    Field(discriminator="type"),
]


# --- input parts (POST /session/{sessionID}/message body "parts") --------------------------


class TextPartInput(OpenCodeModel):
    id: PartID | None = None
    type: Literal["text"]
    text: str
    synthetic: bool | None = None
    ignored: bool | None = None
    time: PartTime | None = None
    metadata: JsonObject | None = None


class FilePartInput(OpenCodeModel):
    id: PartID | None = None
    type: Literal["file"]
    mime: str
    filename: str | None = None
    url: str
    source: FilePartSource | None = None


class AgentPartInput(OpenCodeModel):
    id: PartID | None = None
    type: Literal["agent"]
    name: str
    source: AgentPartSource | None = None


class SubtaskPartInput(OpenCodeModel):
    id: PartID | None = None
    type: Literal["subtask"]
    prompt: str
    description: str
    agent: str
    model: ModelRef | None = None
    command: str | None = None


PartInput = Annotated[
    TextPartInput | FilePartInput | AgentPartInput | SubtaskPartInput,
    Field(discriminator="type"),
]
