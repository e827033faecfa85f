"""Durability: acknowledged writes survive kill -9 and SIGTERM, and cascades never half-apply."""

from __future__ import annotations

import asyncio
import json
import random
import signal
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.serverproc import RunningServer

WORKERS = 32
LOAD_SECONDS = 1.5
KILL_CYCLES = 3
# uvicorn's graceful-shutdown timeout in cli.py: exiting later means something was force-cancelled.
GRACEFUL_TIMEOUT_S = 10.0
EXIT_BOUND_S = 15.0
# At least this many writes must be acknowledged per load phase, or the load never really ran.
MIN_ACKED_PER_PHASE = 30
API_SAMPLE = 40


class _Down(Exception):
    """The server stopped answering: the outcome of the request is unknown."""


@dataclass
class Tree:
    """A root session, its two children and a message on each, written by one worker in order."""

    owner: int
    root: str
    children: list[str] = field(default_factory=list)
    titles: dict[str, str] = field(default_factory=dict)  # last acknowledged title per session
    maybe_titles: dict[str, str] = field(default_factory=dict)  # a PATCH sent, no answer yet
    messages: dict[str, dict[str, set[str]]] = field(default_factory=dict)  # ses -> msg -> prts
    pending_children: int = 0  # child creates sent without an answer
    pending_messages: int = 0  # message posts sent without an answer
    deleted: bool = False  # a DELETE of the root was acknowledged
    delete_pending: bool = False  # a DELETE of the root was sent without an answer

    def sessions(self) -> list[str]:
        return [self.root, *self.children]


@dataclass
class Ledger:
    """Everything the clients were told, across every load phase of one test."""

    trees: list[Tree] = field(default_factory=list)
    adopted: set[str] = field(default_factory=set)  # sessions from unanswered root creates
    pending_roots: int = 0
    unexpected: list[str] = field(default_factory=list)
    counter: int = 0
    acked: int = 0  # acknowledged writes in the current phase
    interrupted_at: float | None = None  # monotonic time the signal was sent
    cut: int = 0  # requests started before the signal that got no answer
    finished_after_signal: int = 0  # requests started before the signal, answered 2xx after it

    def next_number(self) -> int:
        self.counter += 1
        return self.counter

    def owned(self, owner: int) -> list[Tree]:
        return [t for t in self.trees if t.owner == owner and not t.deleted]


async def _call(
    client: httpx.AsyncClient, ledger: Ledger, method: str, path: str, body: Any
) -> Any:
    started = time.monotonic()
    try:
        resp = await client.request(method, path, json=body)
    except httpx.TransportError as exc:
        if ledger.interrupted_at is not None and started < ledger.interrupted_at:
            ledger.cut += 1
        raise _Down from exc
    if not resp.is_success:
        ledger.unexpected.append(f"{method} {path} -> {resp.status_code} {resp.text[:300]}")
        raise _Down
    ledger.acked += 1
    if ledger.interrupted_at is not None and started < ledger.interrupted_at:
        ledger.finished_after_signal += 1
    return resp.json()


async def _create_tree(client: httpx.AsyncClient, ledger: Ledger, owner: int) -> None:
    title = f"root-{owner}-{ledger.next_number()}"
    ledger.pending_roots += 1
    info = await _call(client, ledger, "POST", "/session", {"title": title})
    ledger.pending_roots -= 1
    tree = Tree(owner=owner, root=info["id"], titles={info["id"]: title})
    ledger.trees.append(tree)
    for _ in range(2):
        child_title = f"child-{owner}-{ledger.next_number()}"
        tree.pending_children += 1
        child = await _call(
            client, ledger, "POST", "/session", {"title": child_title, "parentID": tree.root}
        )
        tree.pending_children -= 1
        tree.children.append(child["id"])
        tree.titles[child["id"]] = child_title
    for sid in tree.sessions():
        body = {"noReply": True, "parts": [{"type": "text", "text": f"hello {sid}"}]}
        tree.pending_messages += 1
        out = await _call(client, ledger, "POST", f"/session/{sid}/message", body)
        tree.pending_messages -= 1
        tree.messages.setdefault(sid, {})[out["info"]["id"]] = {p["id"] for p in out["parts"]}


async def _patch(client: httpx.AsyncClient, ledger: Ledger, tree: Tree, rng: random.Random) -> None:
    sid = rng.choice(tree.sessions())
    title = f"patched-{tree.owner}-{ledger.next_number()}"
    tree.maybe_titles[sid] = title
    await _call(client, ledger, "PATCH", f"/session/{sid}", {"title": title})
    del tree.maybe_titles[sid]
    tree.titles[sid] = title


async def _delete(client: httpx.AsyncClient, ledger: Ledger, tree: Tree) -> None:
    tree.delete_pending = True
    await _call(client, ledger, "DELETE", f"/session/{tree.root}", None)
    tree.delete_pending = False
    tree.deleted = True


async def _worker(client: httpx.AsyncClient, ledger: Ledger, owner: int, seed: int) -> None:
    """One client: its trees are touched by it alone, one request at a time, until the server
    stops answering. So at most one of its requests has an unknown outcome."""
    rng = random.Random(seed * 1000 + owner)
    try:
        while True:
            live = ledger.owned(owner)
            roll = rng.random()
            if not live or roll < 0.35:
                await _create_tree(client, ledger, owner)
            elif roll < 0.6:
                await _patch(client, ledger, rng.choice(live), rng)
            else:
                await _delete(client, ledger, live[0])
    except _Down:
        return


async def _load_then(
    server: RunningServer, ledger: Ledger, seed: int, interrupt: Callable[[], Any]
) -> Any:
    """Run the load, call `interrupt` (in a thread) while it is in full swing, return its value
    once every worker has seen the server go away."""
    ledger.acked = 0
    ledger.interrupted_at = None
    limits = httpx.Limits(max_connections=WORKERS * 2, max_keepalive_connections=WORKERS * 2)
    async with httpx.AsyncClient(
        base_url=server.url, timeout=httpx.Timeout(30.0), limits=limits
    ) as client:
        if not ledger.trees:
            # One finished tree per worker first, so deletes and patches start at once.
            await asyncio.gather(*(_create_tree(client, ledger, o) for o in range(WORKERS)))
            assert not ledger.unexpected, ledger.unexpected[:5]
        tasks = [
            asyncio.create_task(_worker(client, ledger, owner, seed)) for owner in range(WORKERS)
        ]
        await asyncio.sleep(LOAD_SECONDS)
        assert not ledger.unexpected, ledger.unexpected[:5]
        assert not any(t.done() for t in tasks), "a worker stopped before the interruption"
        assert ledger.acked >= MIN_ACKED_PER_PHASE, f"only {ledger.acked} writes acknowledged"
        ledger.interrupted_at = time.monotonic()
        result = await asyncio.to_thread(interrupt)
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=60)
    return result


@dataclass
class DbView:
    sessions: dict[str, tuple[str | None, str]]  # id -> (parent id, title)
    messages: dict[str, str]  # message id -> session id
    parts: dict[str, str]  # part id -> message id

    def children_of(self, session_id: str) -> set[str]:
        return {s for s, (parent, _) in self.sessions.items() if parent == session_id}

    def messages_of(self, session_id: str) -> set[str]:
        return {m for m, s in self.messages.items() if s == session_id}

    def parts_of(self, message_id: str) -> set[str]:
        return {p for p, m in self.parts.items() if m == message_id}


def _read_db(path: Path) -> DbView:
    """Check the file's integrity and read it in one snapshot, without writing to it."""
    conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, isolation_level=None)
    try:
        conn.execute("BEGIN")
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        sessions: dict[str, tuple[str | None, str]] = {}
        for sid, parent, title, data in conn.execute(
            "SELECT id, parent_id, title, data FROM session"
        ):
            info = json.loads(data)
            assert info["id"] == sid and info.get("parentID") == parent, info
            assert info["title"] == title, (info, title)
            sessions[sid] = (parent, title)
        messages = dict(conn.execute("SELECT id, session_id FROM message").fetchall())
        parts: dict[str, str] = {}
        for pid, mid, sid in conn.execute("SELECT id, message_id, session_id FROM part"):
            assert messages.get(mid) == sid, f"part {pid} is not in its message's session"
            parts[pid] = mid
        conn.execute("COMMIT")
    finally:
        conn.close()
    return DbView(sessions=sessions, messages=messages, parts=parts)


def _check_tree(tree: Tree, db: DbView, listed: dict[str, Any], problems: list[str]) -> set[str]:
    """Compare one tree with what the clients were told; returns the session ids it accounts
    for in the database."""
    ids = tree.sessions()
    present = [s for s in ids if s in db.sessions]
    if tree.deleted:
        if present:
            problems.append(f"acknowledged delete of {tree.root} undone: {present} exist")
    elif tree.delete_pending:
        if present and len(present) != len(ids):
            problems.append(f"half-applied cascade in {tree.root}: only {present} of {ids}")
    elif len(present) != len(ids):
        problems.append(f"acknowledged creates of tree {tree.root} lost: only {present} of {ids}")
    if tree.root not in db.sessions:
        # Nothing of the tree may be left: no child (known or not), no message, no part.
        stray = db.children_of(tree.root) | {s for s in ids if s in db.sessions}
        stray_msgs = {m for m, s in db.messages.items() if s in ids}
        if stray or stray_msgs:
            problems.append(f"tree {tree.root} gone but {stray} / {stray_msgs} remain")
        return set()
    found = db.children_of(tree.root)
    extra = found - set(tree.children)
    if len(extra) > tree.pending_children:
        problems.append(f"{tree.root} has children nobody created: {extra}")
    accounted = {tree.root, *found}
    for sid in accounted:
        if sid not in listed:
            problems.append(f"{sid} is in the database but GET /session does not list it")
            continue
        if sid in tree.titles:
            allowed = {tree.titles[sid], tree.maybe_titles.get(sid)}
            if listed[sid]["title"] not in allowed:
                problems.append(f"{sid} title {listed[sid]['title']!r}, expected {allowed}")
        if sid != tree.root and listed[sid].get("parentID") != tree.root:
            problems.append(f"{sid} lost its parent: {listed[sid]}")
    unknown_messages = 0
    for sid in accounted:
        acked = tree.messages.get(sid, {})
        stored = db.messages_of(sid)
        if missing := set(acked) - stored:
            problems.append(f"acknowledged messages of {sid} lost: {missing}")
        for mid, part_ids in acked.items():
            if lost := part_ids - db.parts_of(mid):
                problems.append(f"acknowledged parts of {mid} lost: {lost}")
        unknown_messages += len(stored - set(acked))
    if unknown_messages > tree.pending_messages:
        problems.append(f"tree {tree.root} has {unknown_messages} messages nobody posted")
    return accounted


async def _api_checks(server: RunningServer, ledger: Ledger, db: DbView) -> list[str]:
    """What the server answers after the restart, for a bounded sample of sessions."""
    problems: list[str] = []
    gone = [s for t in ledger.trees if t.deleted for s in t.sessions()]
    kept = [t for t in ledger.trees if t.root in db.sessions and not t.maybe_titles]
    rng = random.Random(len(ledger.trees))
    async with httpx.AsyncClient(base_url=server.url, timeout=30.0) as client:

        async def expect_404(path: str) -> None:
            resp = await client.get(path)
            if resp.status_code != 404 or resp.json().get("name") != "NotFoundError":
                problems.append(f"GET {path} after acknowledged delete: {resp.status_code}")

        async def expect_messages(tree: Tree) -> None:
            for sid in tree.sessions():
                resp = await client.get(f"/session/{sid}/message")
                if resp.status_code != 200:
                    problems.append(f"GET /session/{sid}/message: {resp.status_code}")
                    continue
                served = {m["info"]["id"]: {p["id"] for p in m["parts"]} for m in resp.json()}
                for mid, part_ids in tree.messages.get(sid, {}).items():
                    if not part_ids <= served.get(mid, set()):
                        problems.append(f"GET /session/{sid}/message lacks {mid} {part_ids}")
            resp = await client.get(f"/session/{tree.root}/children")
            served_children = {s["id"] for s in resp.json()} if resp.status_code == 200 else None
            if served_children != db.children_of(tree.root):
                problems.append(f"children of {tree.root}: {served_children}")

        sample_gone = rng.sample(gone, min(len(gone), API_SAMPLE))
        jobs = [expect_404(f"/session/{s}") for s in sample_gone]
        jobs += [expect_404(f"/session/{s}/message") for s in sample_gone]
        jobs += [expect_messages(t) for t in rng.sample(kept, min(len(kept), API_SAMPLE))]
        await asyncio.gather(*jobs)
    return problems


def _verify(server: RunningServer, ledger: Ledger) -> None:
    """Every acknowledged write is there, every acknowledged delete is complete, nothing else
    but the unanswered requests' effects; then adopt the observed state for the next phase."""
    resp = httpx.get(f"{server.url}/session", params={"limit": 10_000}, timeout=30.0)
    assert resp.status_code == 200
    listed = {s["id"]: s for s in resp.json()}
    assert len(listed) < 10_000, "listing truncated; raise the limit"
    db = _read_db(server.db_path)
    assert set(listed) == set(db.sessions), "GET /session disagrees with the database"
    problems: list[str] = []
    accounted = set(ledger.adopted)
    for tree in ledger.trees:
        accounted |= _check_tree(tree, db, listed, problems)
    strangers = set(db.sessions) - accounted
    if len(strangers) > ledger.pending_roots:
        problems.append(f"{len(strangers)} unknown sessions, {ledger.pending_roots} unanswered")
    problems += asyncio.run(_api_checks(server, ledger, db))
    assert not problems, "\n".join(problems[:20])
    # The unanswered requests are settled now: whatever survived is simply the state.
    ledger.adopted |= strangers
    ledger.pending_roots = 0
    for tree in ledger.trees:
        if tree.root not in db.sessions:
            tree.deleted, tree.delete_pending = True, False
            continue
        tree.delete_pending = False
        tree.children += sorted(db.children_of(tree.root) - set(tree.children))
        tree.pending_children = tree.pending_messages = 0
        tree.maybe_titles.clear()
        tree.titles = {sid: db.sessions[sid][1] for sid in tree.sessions()}
        tree.messages = {
            sid: {mid: db.parts_of(mid) for mid in db.messages_of(sid)} for sid in tree.sessions()
        }


@pytest.mark.slow
def test_kill9_keeps_every_acknowledged_write(server: RunningServer) -> None:
    ledger = Ledger()
    cut = 0
    for cycle in range(KILL_CYCLES):
        asyncio.run(_load_then(server, ledger, cycle, server.kill9))
        assert not ledger.unexpected, ledger.unexpected[:5]
        cut += ledger.cut
        ledger.cut = 0
        server.restart()
        _verify(server, ledger)
    # The kills must have landed on requests in flight, or nothing was tested.
    assert cut > 0
    assert sum(t.deleted for t in ledger.trees) > 0
    assert any(len(t.children) == 2 and not t.deleted for t in ledger.trees)
    assert server.stop() == 0
    _read_db(server.db_path)


@pytest.mark.slow
def test_sigterm_finishes_in_flight_writes(server: RunningServer) -> None:
    ledger = Ledger()

    def terminate() -> tuple[int, float]:
        start = time.monotonic()
        code = server.stop(signal.SIGTERM, timeout=EXIT_BOUND_S)
        return code, time.monotonic() - start

    code, elapsed = asyncio.run(_load_then(server, ledger, 7, terminate))
    assert code == 0
    assert elapsed < GRACEFUL_TIMEOUT_S, f"shutdown took {elapsed:.1f}s"
    # Every answer was a 2xx; the rest were connection errors, never a 5xx.
    assert not ledger.unexpected, ledger.unexpected[:5]
    # Requests the server was working on when the signal came were finished and answered.
    assert ledger.finished_after_signal > 0
    server.restart()
    _verify(server, ledger)


def test_sigterm_with_open_event_stream(server: RunningServer) -> None:
    async def scenario() -> tuple[int, float]:
        async with httpx.AsyncClient(base_url=server.url, timeout=EXIT_BOUND_S) as client:
            streams = [client.stream("GET", path) for path in ("/event", "/global/event")]
            responses = [await s.__aenter__() for s in streams]
            readers = [r.aiter_lines() for r in responses]
            for resp, lines in zip(responses, readers, strict=True):
                assert resp.status_code == 200
                assert resp.headers["content-type"].startswith("text/event-stream")
                first = await asyncio.wait_for(anext(lines), 5)
                assert first.startswith("data: ") and "server.connected" in first

            async def drain(lines: Any) -> None:
                # Ends cleanly or with a closed connection; either way the stream is over.
                try:
                    async for _ in lines:
                        pass
                except httpx.HTTPError:
                    pass

            watchers = [asyncio.create_task(drain(lines)) for lines in readers]
            start = time.monotonic()
            code = await asyncio.to_thread(server.stop, signal.SIGTERM, EXIT_BOUND_S)
            elapsed = time.monotonic() - start
            # Times out (and fails) if a stream is still open after the server has gone.
            await asyncio.wait_for(asyncio.gather(*watchers), 5)
            for s in streams:
                await s.__aexit__(None, None, None)
            return code, elapsed

    code, elapsed = asyncio.run(scenario())
    assert code == 0
    # Well inside uvicorn's graceful timeout: the streams were closed, not force-cancelled.
    assert elapsed < GRACEFUL_TIMEOUT_S, f"shutdown with open event streams took {elapsed:.1f}s"
