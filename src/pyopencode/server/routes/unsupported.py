"""What pyopencode deliberately does not run: each such operation answers a 4xx that says so.

Workspaces, worktrees and project copies, session sync and the control plane, the hosted
console, self-upgrade and provider OAuth are OpenCode features that pyopencode does not
implement. Their routes exist so a client gets a clear, truthful refusal in the error shape
the reference declares for that operation, never a 404 "No route" and never a fake success.
Read-only listings of these things (workspaces, adapters, worktrees) answer an empty list,
which is true: pyopencode has none.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter
from starlette.responses import Response

from pyopencode.server.instance import CurrentInstance
from pyopencode.server.json import JsonRoute, json_response

router = APIRouter(route_class=JsonRoute)

WORKSPACES = "pyopencode does not run workspaces (remote or sandboxed copies of a project)."
WORKTREES = "pyopencode does not create git worktrees yet; run `git worktree` yourself."
COPIES = "pyopencode does not make project copies."
SYNC = "pyopencode does not sync sessions between servers; share one PostgreSQL database instead."
CONSOLE = "pyopencode has no OpenCode Console (hosted accounts and organisations)."
UPGRADE = "pyopencode does not upgrade itself; upgrade it with your package manager."
OAUTH = (
    "pyopencode has no provider OAuth logins; store an API key with PUT /auth/{providerID} "
    "or put it in opencode.json."
)


@dataclass(frozen=True)
class Refusal:
    method: str
    path: str
    operation_id: str
    tag: str
    why: str
    # The error name the reference declares for this operation's 400: a `{name, data}` body.
    # None: the operation declares only `InvalidRequestError` (`{_tag, message}`).
    name: str | None

    def body(self) -> dict[str, Any]:
        if self.name is None:
            return {"_tag": "InvalidRequestError", "message": self.why}
        return {"name": self.name, "data": {"message": self.why}}


REFUSALS = [
    Refusal("POST", "/experimental/worktree", "worktree.create", "worktree", WORKTREES,
            "WorktreeCreateFailedError"),
    Refusal("DELETE", "/experimental/worktree", "worktree.remove", "worktree", WORKTREES,
            "WorktreeRemoveFailedError"),
    Refusal("POST", "/experimental/worktree/reset", "worktree.reset", "worktree", WORKTREES,
            "WorktreeResetFailedError"),
    Refusal("POST", "/experimental/workspace", "experimental.workspace.create", "workspace",
            WORKSPACES, "WorkspaceCreateError"),
    Refusal("POST", "/experimental/workspace/sync-list", "experimental.workspace.syncList",
            "workspace", WORKSPACES, "BadRequest"),
    Refusal("DELETE", "/experimental/workspace/{id}", "experimental.workspace.remove",
            "workspace", WORKSPACES, None),
    Refusal("POST", "/experimental/workspace/warp", "experimental.workspace.warp", "workspace",
            WORKSPACES, "WorkspaceWarpError"),
    Refusal("POST", "/experimental/project/{projectID}/copy/generate-name",
            "experimental.projectCopy.generateName", "project", COPIES, "BadRequest"),
    Refusal("POST", "/experimental/project/{projectID}/copy", "v2.projectCopy.create",
            "project", COPIES, "ProjectCopyError"),
    Refusal("DELETE", "/experimental/project/{projectID}/copy", "v2.projectCopy.remove",
            "project", COPIES, "ProjectCopyError"),
    Refusal("POST", "/experimental/project/{projectID}/copy/refresh", "v2.projectCopy.refresh",
            "project", COPIES, "ProjectCopyError"),
    Refusal("POST", "/experimental/control-plane/move-session",
            "experimental.controlPlane.moveSession", "experimental", SYNC, "MoveSessionError"),
    Refusal("POST", "/sync/start", "sync.start", "sync", SYNC, "BadRequest"),
    Refusal("POST", "/sync/replay", "sync.replay", "sync", SYNC, None),
    Refusal("POST", "/sync/steal", "sync.steal", "sync", SYNC, None),
    Refusal("POST", "/sync/history", "sync.history.list", "sync", SYNC, None),
    Refusal("GET", "/experimental/console/orgs", "experimental.console.listOrgs", "experimental",
            CONSOLE, "BadRequest"),
    Refusal("POST", "/experimental/console/switch", "experimental.console.switchOrg",
            "experimental", CONSOLE, "BadRequest"),
    Refusal("POST", "/global/upgrade", "global.upgrade", "global", UPGRADE, None),
    Refusal("POST", "/provider/{providerID}/oauth/authorize", "provider.oauth.authorize",
            "provider", OAUTH, "ProviderAuthOauthMissing"),
    Refusal("POST", "/provider/{providerID}/oauth/callback", "provider.oauth.callback",
            "provider", OAUTH, "ProviderAuthOauthMissing"),
]  # fmt: skip


def _documented(refusal: Refusal) -> dict[str, Any]:
    """The operation's parameters and 400 body for /doc (the handler reads none of them)."""
    names = re.findall(r"\{(\w+)\}", refusal.path)
    parameters: list[dict[str, Any]] = [
        {"name": n, "in": "path", "required": True, "schema": {"type": "string"}} for n in names
    ]
    if refusal.name is None:
        error: dict[str, Any] = {
            "type": "object",
            "properties": {"_tag": {"const": "InvalidRequestError"}, "message": {"type": "string"}},
            "required": ["_tag", "message"],
        }
    else:
        error = {
            "type": "object",
            "properties": {
                "name": {"const": refusal.name},
                "data": {
                    "type": "object",
                    "properties": {"message": {"type": "string"}},
                    "required": ["message"],
                },
            },
            "required": ["name", "data"],
        }
    # A malformed or repeated query parameter is refused before the route runs, in the
    # shapes every operation uses for that.
    others = [
        {"$ref": f"#/components/schemas/{n}"} for n in ("InvalidRequestError", "BadRequestError")
    ]
    content = {"application/json": {"schema": {"anyOf": [error, *others]}}}
    return {
        "parameters": parameters,
        "responses": {"400": {"description": refusal.why, "content": content}},
    }


def _register(refusal: Refusal) -> None:
    async def refuse(instance: CurrentInstance) -> Response:
        # The body is never read: nothing it could say would change the answer.
        return json_response(refusal.body(), 400)

    router.add_api_route(
        refusal.path,
        refuse,
        methods=[refusal.method],
        operation_id=refusal.operation_id,
        tags=[refusal.tag],
        summary="Not supported by pyopencode",
        description=f"Not supported: {refusal.why} Always answers 400 and changes nothing.",
        openapi_extra=_documented(refusal),
    )


for _refusal in REFUSALS:
    _register(_refusal)


@router.get(
    "/experimental/workspace/adapter",
    operation_id="experimental.workspace.adapter.list",
    tags=["workspace"],
    description=f"Always empty. {WORKSPACES}",
)
async def workspace_adapters(instance: CurrentInstance) -> Response:
    return json_response([])


@router.get(
    "/experimental/worktree",
    operation_id="worktree.list",
    tags=["worktree"],
    description=f"Always empty: no worktree was made by pyopencode. {WORKTREES}",
)
async def worktrees(instance: CurrentInstance) -> Response:
    return json_response([])
