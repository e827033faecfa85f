"""Session, todo, project and error shapes as the OpenCode API defines them."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Strict(BaseModel):
    # The reference spec forbids unknown fields on these objects and clients rely on types.
    model_config = ConfigDict(extra="forbid", strict=True)

    @model_validator(mode="before")
    @classmethod
    def _no_nulls(cls, data: Any) -> Any:
        # Optional means "may be left out", not "may be null": the spec types these as strings,
        # objects and arrays, and a null title must not become a silent no-op write.
        if isinstance(data, dict):
            for key, value in data.items():
                if value is None:
                    raise ValueError(f"{key} must not be null")
        return data


class PermissionRule(_Strict):
    permission: str
    pattern: str
    action: Literal["allow", "deny", "ask"]


class SessionModelRef(_Strict):
    id: str
    providerID: str
    variant: str | None = None


class SessionCreate(_Strict):
    parentID: str | None = Field(default=None, pattern=r"^ses")
    title: str | None = None
    agent: str | None = None
    model: SessionModelRef | None = None
    metadata: dict[str, Any] | None = None
    permission: list[PermissionRule] | None = None
    workspaceID: str | None = Field(default=None, pattern=r"^wrk")


class SessionTimePatch(_Strict):
    archived: float | None = None


class SessionUpdate(_Strict):
    title: str | None = None
    metadata: dict[str, Any] | None = None
    permission: list[PermissionRule] | None = None
    time: SessionTimePatch | None = None


class SessionFork(_Strict):
    messageID: str | None = Field(default=None, pattern=r"^msg")


class _Open(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Tokens(_Open):
    class Cache(_Open):
        read: float
        write: float

    input: float
    output: float
    reasoning: float
    cache: Cache


class SessionTime(_Open):
    created: int = Field(ge=0)
    updated: int = Field(ge=0)
    compacting: int | None = Field(default=None, ge=0)
    archived: float | None = None


class SessionSummary(_Open):
    additions: float
    deletions: float
    files: float


class SessionShare(_Open):
    url: str


class SessionRevert(_Open):
    messageID: str = Field(pattern=r"^msg")
    partID: str | None = Field(default=None, pattern=r"^prt")
    snapshot: str | None = None
    diff: str | None = None


class Session(_Open):
    id: str = Field(pattern=r"^ses")
    slug: str
    projectID: str
    workspaceID: str | None = Field(default=None, pattern=r"^wrk")
    directory: str
    path: str | None = None
    parentID: str | None = Field(default=None, pattern=r"^ses")
    summary: SessionSummary | None = None
    cost: float | None = None
    tokens: Tokens | None = None
    share: SessionShare | None = None
    title: str
    agent: str | None = None
    model: SessionModelRef | None = None
    version: str
    metadata: dict[str, Any] | None = None
    time: SessionTime
    permission: list[PermissionRule] | None = None
    revert: SessionRevert | None = None


class SessionStatusIdle(_Open):
    type: Literal["idle"]


class SessionStatusBusy(_Open):
    type: Literal["busy"]


class SessionStatusRetry(_Open):
    type: Literal["retry"]
    attempt: int = Field(ge=0)
    message: str
    next: int = Field(ge=0)


SessionStatus = SessionStatusIdle | SessionStatusBusy | SessionStatusRetry


class Todo(_Open):
    content: str
    status: str
    priority: str


class ProjectTime(_Open):
    created: int = Field(ge=0)
    updated: int = Field(ge=0)
    initialized: int | None = Field(default=None, ge=0)


class ProjectIcon(_Open):
    url: str | None = None
    override: str | None = None
    color: str | None = None


class ProjectCommands(_Open):
    start: str | None = Field(
        default=None, description="Startup script to run when creating a new workspace (worktree)"
    )


class Project(_Open):
    id: str
    worktree: str
    vcs: Literal["git"] | None = None
    name: str | None = None
    icon: ProjectIcon | None = None
    commands: ProjectCommands | None = None
    time: ProjectTime
    sandboxes: list[str]


class ProjectUpdate(_Open):
    """`PATCH /project/{projectID}`: the fields a client may change."""

    name: str | None = Field(default=None, max_length=1024)
    icon: ProjectIcon | None = None
    commands: ProjectCommands | None = None


class ProjectNotFound(_Open):
    tag: Literal["ProjectNotFoundError"] = Field(alias="_tag")
    projectID: str
    message: str


class PathInfo(_Open):
    home: str
    state: str
    config: str
    worktree: str
    directory: str


class Health(_Open):
    healthy: Literal[True]
    version: str


class ErrorData(BaseModel):
    message: str


class NotFoundError(BaseModel):
    name: Literal["NotFoundError"]
    data: ErrorData


class BadRequestData(BaseModel):
    message: str
    kind: Literal["Params", "Headers", "Query", "Body", "Payload"] | None = None


class BadRequestError(BaseModel):
    """The 400 shape upstream uses for list, health, path and project operations."""

    name: Literal["BadRequest"]
    data: BadRequestData


class InvalidRequestError(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tag: Literal["InvalidRequestError"] = Field(alias="_tag")
    message: str
    kind: str | None = None
    field: str | None = None


class SessionBusyError(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tag: Literal["SessionBusyError"] = Field(alias="_tag")
    sessionID: str
    message: str


class NamedError(BaseModel):
    name: str
    data: ErrorData
