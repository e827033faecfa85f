"""A deliberately faulty in-memory OpenCode-like server: concurrent deletes answer true but leak."""

from __future__ import annotations

import asyncio
import secrets
import socket
import sys
import time
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


def _not_found(session_id: str) -> JSONResponse:
    return JSONResponse(
        {"name": "NotFoundError", "data": {"message": f"Session not found: {session_id}"}}, 404
    )


class _State:
    def __init__(self) -> None:
        self.sessions: dict[str, dict[str, Any]] = {}
        self.messages: dict[str, list[dict[str, Any]]] = {}
        self.inflight = 0
        self.deletes = 0
        # Ids whose delete answered true although the session was kept (what check must find).
        self.dropped: list[str] = []

    def subtree(self, root: str) -> list[str]:
        found = [root]
        for sid in found:
            found += [s for s, info in self.sessions.items() if info.get("parentID") == sid]
        return found


def create_app() -> Starlette:
    state = _State()

    async def body(request: Request) -> dict[str, Any]:
        raw = await request.body()
        data = await request.json() if raw else {}
        return data if isinstance(data, dict) else {}

    async def create(request: Request) -> JSONResponse:
        data = await body(request)
        parent = data.get("parentID")
        if parent is not None and parent not in state.sessions:
            return _not_found(parent)
        now = int(time.time() * 1000)
        sid = "ses_" + secrets.token_hex(13)
        info: dict[str, Any] = {
            "id": sid,
            "version": "faulty",
            "projectID": "global",
            "directory": "/",
            "title": data.get("title") or "New session",
            "time": {"created": now, "updated": now},
        }
        if parent is not None:
            info["parentID"] = parent
        state.sessions[sid] = info
        state.messages[sid] = []
        return JSONResponse(info)

    async def list_sessions(request: Request) -> JSONResponse:
        limit = int(request.query_params.get("limit", 100))
        search = request.query_params.get("search", "").lower()
        found = [s for s in state.sessions.values() if search in str(s["title"]).lower()]
        found.sort(key=lambda s: s["time"]["updated"], reverse=True)
        return JSONResponse(found[:limit])

    async def one(request: Request) -> JSONResponse:
        sid = request.path_params["sid"]
        info = state.sessions.get(sid)
        if info is None:
            return _not_found(sid)
        if request.method == "PATCH":
            data = await body(request)
            if "title" in data:
                info["title"] = data["title"]
            info["time"]["updated"] = int(time.time() * 1000)
        return JSONResponse(info)

    async def delete(request: Request) -> JSONResponse:
        sid = request.path_params["sid"]
        if sid not in state.sessions:
            return _not_found(sid)
        state.inflight += 1
        try:
            # Yield so that concurrent deletes overlap, like a storage scan would.
            await asyncio.sleep(0.005)
            state.deletes += 1
            if state.inflight > 1 and state.deletes % 2 == 0:
                state.dropped.append(sid)
            else:
                for gone in state.subtree(sid):
                    state.sessions.pop(gone, None)
                    state.messages.pop(gone, None)
        finally:
            state.inflight -= 1
        return JSONResponse(True)

    async def children(request: Request) -> JSONResponse:
        sid = request.path_params["sid"]
        if sid not in state.sessions:
            return _not_found(sid)
        return JSONResponse([s for s in state.sessions.values() if s.get("parentID") == sid])

    async def messages(request: Request) -> JSONResponse:
        sid = request.path_params["sid"]
        if sid not in state.sessions:
            return _not_found(sid)
        if request.method == "GET":
            return JSONResponse(state.messages[sid])
        data = await body(request)
        mid = "msg_" + secrets.token_hex(13)
        info = {"id": mid, "sessionID": sid, "role": "user", "time": {"created": 0}}
        parts = [
            {**p, "id": "prt_" + secrets.token_hex(13), "sessionID": sid, "messageID": mid}
            for p in data.get("parts", [])
        ]
        message = {"info": info, "parts": parts}
        state.messages[sid].append(message)
        return JSONResponse(message)

    async def dropped(_request: Request) -> JSONResponse:
        return JSONResponse(state.dropped)

    async def health(_request: Request) -> JSONResponse:
        return JSONResponse({"healthy": True, "version": "faulty"})

    return Starlette(
        routes=[
            Route("/global/health", health),
            Route("/faulty/dropped", dropped),
            Route("/session", create, methods=["POST"]),
            Route("/session", list_sessions, methods=["GET"]),
            Route("/session/{sid}", one, methods=["GET", "PATCH"]),
            Route("/session/{sid}", delete, methods=["DELETE"]),
            Route("/session/{sid}/children", children),
            Route("/session/{sid}/message", messages, methods=["GET", "POST"]),
        ]
    )


def main() -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", int(sys.argv[1]) if len(sys.argv) > 1 else 0))
    port = sock.getsockname()[1]
    sock.listen(512)
    print(f"faulty server listening on http://127.0.0.1:{port}", flush=True)
    server = uvicorn.Server(uvicorn.Config(create_app(), log_level="warning"))
    server.run(sockets=[sock])


if __name__ == "__main__":
    main()
