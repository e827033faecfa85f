"""Randomized session churn and the model of what a server acknowledged, for e2e and PG tests."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field

import httpx

ALL = {"limit": 10_000}
OPS = ("create", "child", "patch", "delete", "get", "list", "message")


@dataclass
class Model:
    """What the server acknowledged, as the clients saw it."""

    titles: dict[str, str] = field(default_factory=dict)
    parent: dict[str, str] = field(default_factory=dict)
    messages: dict[str, int] = field(default_factory=dict)
    deleted: set[str] = field(default_factory=set)

    def subtree(self, root: str) -> set[str]:
        found = {root}
        changed = True
        while changed:
            changed = False
            for child, parent in self.parent.items():
                if parent in found and child not in found:
                    found.add(child)
                    changed = True
        return found

    def forget(self, gone: set[str]) -> None:
        self.deleted |= gone
        for session_id in gone:
            self.titles.pop(session_id, None)
            self.parent.pop(session_id, None)
            self.messages.pop(session_id, None)


async def churn_worker(
    clients: Sequence[httpx.AsyncClient],
    rng: random.Random,
    steps: int,
    model: Model,
    errors: list[str],
) -> None:
    """Random creates, child creates, patches, deletes, reads, lists and messages.

    Each worker owns the sessions it creates, so per-session order is the worker's order and
    the model is exact; workers still race each other on the server. With several clients
    (instances), each request picks one, so reads check what another instance acknowledged.
    """
    mine: list[str] = []
    for step in range(steps):
        client = rng.choice(clients)
        op = rng.choice(OPS) if mine else "create"
        if op in ("create", "child"):
            body = {"title": f"t{step}-{rng.random():.6f}"}
            if op == "child":
                body["parentID"] = rng.choice(mine)
            response = await client.post("/session", json=body)
            if response.status_code != 200:
                errors.append(f"create {response.status_code} {response.text}")
                continue
            session_id = response.json()["id"]
            model.titles[session_id] = body["title"]
            if "parentID" in body:
                model.parent[session_id] = body["parentID"]
            mine.append(session_id)
        elif op == "patch":
            target, title = rng.choice(mine), f"p{step}-{rng.random():.6f}"
            response = await client.patch(f"/session/{target}", json={"title": title})
            if response.status_code != 200 or response.json()["title"] != title:
                errors.append(f"patch {response.status_code} {response.text}")
                continue
            model.titles[target] = title
        elif op == "delete":
            target = rng.choice(mine)
            response = await client.delete(f"/session/{target}")
            if response.status_code != 200 or response.content != b"true":
                errors.append(f"delete {response.status_code} {response.text}")
                continue
            gone = model.subtree(target)
            model.forget(gone)
            mine = [s for s in mine if s not in gone]
        elif op == "message":
            target = rng.choice(mine)
            response = await client.post(
                f"/session/{target}/message",
                json={"noReply": True, "parts": [{"type": "text", "text": str(step)}]},
            )
            if response.status_code != 200:
                errors.append(f"message {response.status_code} {response.text}")
                continue
            model.messages[target] = model.messages.get(target, 0) + 1
        elif op == "get":
            target = rng.choice(mine)
            response = await client.get(f"/session/{target}")
            if response.status_code != 200 or response.json()["title"] != model.titles[target]:
                errors.append(f"get {target} {response.status_code} {response.text}")
        else:
            response = await client.get("/session", params=ALL)
            if response.status_code != 200:
                errors.append(f"list {response.status_code}")
                continue
            listed = {s["id"] for s in response.json()}
            # This worker's sessions are stable while it is the one reading them.
            missing = [s for s in mine if s not in listed]
            if missing:
                errors.append(f"list is missing acknowledged sessions {missing}")


async def verify(
    client: httpx.AsyncClient,
    model: Model,
    preexisting: set[str],
    uncertain: set[str] | None = None,
    unanswered: bool = False,
) -> list[str]:
    """Compare the server with the model. `uncertain` sessions were touched by a request that
    died unanswered: it may or may not have committed, so they are not checked; `unanswered`
    allows sessions that a create which died unanswered may have made."""
    uncertain = uncertain or set()
    errors: list[str] = []
    response = await client.get("/session", params=ALL)
    assert response.status_code == 200
    listed = {s["id"]: s for s in response.json()}
    for session_id, title in model.titles.items():
        if session_id in uncertain:
            continue
        if session_id not in listed:
            errors.append(f"acknowledged session {session_id} is missing")
        elif listed[session_id]["title"] != title:
            errors.append(f"{session_id} has title {listed[session_id]['title']!r}")
        elif listed[session_id].get("parentID") != model.parent.get(session_id):
            errors.append(f"{session_id} has the wrong parent")
    for session_id in model.deleted - uncertain:
        if session_id in listed:
            errors.append(f"deleted session {session_id} is still listed")
        if (await client.get(f"/session/{session_id}")).status_code != 404:
            errors.append(f"deleted session {session_id} still answers GET")
    for session_id, count in model.messages.items():
        if session_id in uncertain:
            continue
        messages = await client.get(f"/session/{session_id}/message")
        if messages.status_code != 200 or len(messages.json()) != count:
            errors.append(f"{session_id} should have {count} messages: {messages.text[:200]}")
    extra = set(listed) - set(model.titles) - model.deleted - preexisting
    if extra and not unanswered:
        errors.append(f"sessions nobody acknowledged: {sorted(extra)}")
    return errors
