"""Three real server processes on one PostgreSQL database keep every promise one server does."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.churn import ALL, Model, churn_worker, verify
from tests.serverproc import RunningServer

Start = Callable[[int], list[RunningServer]]


def _clients(
    servers: list[RunningServer], directory: Path, pool: int = 64
) -> list[httpx.AsyncClient]:
    limits = httpx.Limits(max_connections=pool, max_keepalive_connections=pool)
    # One directory for all, so every instance resolves the same project and event filter.
    headers = {"x-opencode-directory": str(directory)}
    return [
        httpx.AsyncClient(base_url=s.url, limits=limits, timeout=60, headers=headers)
        for s in servers
    ]


async def _close(clients: list[httpx.AsyncClient]) -> None:
    for client in clients:
        await client.aclose()


async def _create(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    response = await client.post("/session", json=body)
    assert response.status_code == 200, response.text
    info: dict[str, Any] = response.json()
    return info


async def _listed(client: httpx.AsyncClient) -> set[str]:
    response = await client.get("/session", params=ALL)
    assert response.status_code == 200, response.text
    return {s["id"] for s in response.json()}


async def _delete_spread(
    clients: list[httpx.AsyncClient], ids: list[str], concurrency: int, offset: int = 0
) -> None:
    gate = asyncio.Semaphore(concurrency)

    async def delete(n: int, session_id: str) -> httpx.Response:
        async with gate:
            return await clients[(n + offset) % len(clients)].delete(f"/session/{session_id}")

    responses = await asyncio.gather(*(delete(n, s) for n, s in enumerate(ids)))
    for response in responses:
        assert response.status_code == 200, response.text
        assert response.content == b"true"


def test_bug_report_scenario_across_three_instances(instances: Start, project_dir: Path) -> None:
    """Create 5 on A, delete them concurrently through A, B and C, list on C: 200 rounds."""

    async def main() -> list[str]:
        clients = _clients(instances(3), project_dir)
        a, _b, c = clients
        ghosts: list[str] = []
        try:
            for round_no in range(200):
                ids = [(await _create(a, title=f"test-session-{i}"))["id"] for i in range(5)]
                await _delete_spread(clients, ids, 5, offset=round_no)
                listed = await _listed(c)
                ghosts += [i for i in ids if i in listed]
                probes = await asyncio.gather(
                    *(clients[(round_no + n) % 3].get(f"/session/{s}") for n, s in enumerate(ids))
                )
                assert [p.status_code for p in probes] == [404] * 5
        finally:
            await _close(clients)
        return ghosts

    assert asyncio.run(main()) == []


@pytest.mark.slow
def test_1000_sessions_64_concurrent_deletes_across_three(
    instances: Start, project_dir: Path
) -> None:
    async def main() -> list[str]:
        clients = _clients(instances(3), project_dir)
        try:
            gate = asyncio.Semaphore(32)

            async def create(n: int) -> str:
                async with gate:
                    return str((await _create(clients[n % 3], title=f"bulk-{n}"))["id"])

            ids = await asyncio.gather(*(create(n) for n in range(1000)))
            assert set(ids) <= await _listed(clients[1])
            await _delete_spread(clients, list(ids), 64)
            listed = await _listed(clients[2])
            return [i for i in ids if i in listed]
        finally:
            await _close(clients)

    assert asyncio.run(main()) == []


def test_double_delete_across_instances_one_200_one_404(
    instances: Start, project_dir: Path
) -> None:
    async def main() -> set[tuple[int, int]]:
        clients = _clients(instances(3), project_dir)
        outcomes = set()
        try:
            for i in range(60):
                one, other = clients[i % 3], clients[(i + 1) % 3]
                root = await _create(clients[(i + 2) % 3], title=f"double-{i}")
                await _create(one, title="child", parentID=root["id"])
                first, second = await asyncio.gather(
                    one.delete(f"/session/{root['id']}"), other.delete(f"/session/{root['id']}")
                )
                statuses = sorted((first.status_code, second.status_code))
                outcomes.add((statuses[0], statuses[1]))
                loser = first if first.status_code == 404 else second
                assert loser.json()["name"] == "NotFoundError"
        finally:
            await _close(clients)
        return outcomes

    assert asyncio.run(main()) == {(200, 404)}


@dataclass
class _Stream:
    """Events one subscriber received, each with the monotonic time it arrived."""

    events: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    ready: asyncio.Event = field(default_factory=asyncio.Event)

    def of(self, session_id: str) -> list[tuple[float, dict[str, Any]]]:
        return [(t, e) for t, e in self.events if e["properties"].get("sessionID") == session_id]


async def _subscribe(client: httpx.AsyncClient, stream: _Stream) -> None:
    async with client.stream("GET", "/event") as response:
        async for line in response.aiter_lines():
            if not line.startswith("data: "):
                continue
            event = orjson.loads(line[6:])
            if event["type"] == "server.connected":
                stream.ready.set()
            elif event["type"] != "server.heartbeat":
                stream.events.append((time.monotonic(), event))


def test_sse_on_b_sees_a_writes_once_in_order_within_a_second(
    instances: Start, project_dir: Path
) -> None:
    async def main() -> None:
        clients = _clients(instances(2), project_dir)
        a, b = clients
        on_a, on_b = _Stream(), _Stream()
        readers = [
            asyncio.create_task(_subscribe(a, on_a)),
            asyncio.create_task(_subscribe(b, on_b)),
        ]
        try:
            await asyncio.wait_for(asyncio.gather(on_a.ready.wait(), on_b.ready.wait()), 10)
            for _ in range(10):
                info = await _create(a, title="seen-elsewhere")
                created_at = time.monotonic()
                assert (await a.delete(f"/session/{info['id']}")).status_code == 200
                deleted_at = time.monotonic()
                deadline = deleted_at + 1.0
                while len(on_b.of(info["id"])) < 2 and time.monotonic() < deadline:
                    await asyncio.sleep(0.005)
                await asyncio.sleep(0.2)  # anything arriving now would be a duplicate
                got = on_b.of(info["id"])
                assert [e["type"] for _, e in got] == ["session.created", "session.deleted"]
                assert got[0][0] - created_at < 1.0 and got[1][0] - deleted_at < 1.0
                assert got[0][1]["properties"]["info"] == info
                # The writer's own subscriber gets the same events, also exactly once.
                own = on_a.of(info["id"])
                assert [e for _, e in own] == [e for _, e in got]

            # Larger than NOTIFY allows: the event travels by reference and arrives intact.
            big = await _create(a, title="big", metadata={"blob": "x" * 20_000})
            text = "y" * 30_000
            message = await a.post(
                f"/session/{big['id']}/message",
                json={"noReply": True, "parts": [{"type": "text", "text": text}]},
            )
            assert message.status_code == 200, message.text
            deadline = time.monotonic() + 2.0
            while len(on_b.of(big["id"])) < 3 and time.monotonic() < deadline:
                await asyncio.sleep(0.005)
            await asyncio.sleep(0.2)
            got = on_b.of(big["id"])
            assert [e["type"] for _, e in got] == [
                "session.created",
                "message.updated",
                "message.part.updated",
            ]
            assert got[0][1]["properties"]["info"] == big
            assert got[2][1]["properties"]["part"]["text"] == text
            assert len(orjson.dumps(got[0][1])) > 8000
            assert [e for _, e in on_a.of(big["id"])] == [e for _, e in got]
        finally:
            for reader in readers:
                reader.cancel()
            await asyncio.gather(*readers, return_exceptions=True)
            await _close(clients)

    asyncio.run(main())


def test_churn_across_three_instances_matches_the_model(
    instances: Start, project_dir: Path
) -> None:
    async def main() -> tuple[Model, list[str]]:
        clients = _clients(instances(3), project_dir)
        model, errors = Model(), []
        try:
            preexisting = await _listed(clients[0])
            await asyncio.gather(
                *(
                    churn_worker(clients, random.Random(7000 + n), 40, model, errors)
                    for n in range(24)
                )
            )
            for client in clients:
                errors += await verify(client, model, preexisting)
        finally:
            await _close(clients)
        return model, errors

    model, errors = asyncio.run(main())
    assert errors == []
    assert model.deleted and model.titles


def test_kill9_of_one_instance_loses_no_acknowledged_write(
    instances: Start, project_dir: Path
) -> None:
    """Load on all three; C dies mid-load; A and B keep serving; every ack survives."""
    servers = instances(3)

    async def main() -> tuple[Model, list[str], dict[str, int]]:
        clients = _clients(servers, project_dir)
        a, b, c = clients
        model, errors = Model(), []
        uncertain: set[str] = set()
        stats = {"c_failures": 0, "served_after_kill": 0, "unanswered": 0}
        killed = asyncio.Event()
        preexisting = await _listed(a)

        async def worker(n: int) -> None:
            rng = random.Random(n)
            mine: list[str] = []
            deadline = time.monotonic() + 4.0
            while time.monotonic() < deadline:
                client = rng.choice(clients)
                before_kill = not killed.is_set()
                target = rng.choice(mine) if mine else ""
                op = (
                    "create"
                    if not mine or rng.random() < 0.4
                    else rng.choice(("msg", "msg", "del"))
                )
                try:
                    if op == "create":
                        body: dict[str, Any] = {"title": f"w{n}-{rng.random():.6f}"}
                        if mine and rng.random() < 0.3:
                            body["parentID"] = target
                        response = await client.post("/session", json=body)
                        if response.status_code == 200:
                            session_id = response.json()["id"]
                            model.titles[session_id] = body["title"]
                            if "parentID" in body:
                                model.parent[session_id] = body["parentID"]
                            mine.append(session_id)
                    elif op == "msg":
                        response = await client.post(
                            f"/session/{target}/message",
                            json={"noReply": True, "parts": [{"type": "text", "text": "m"}]},
                        )
                        if response.status_code == 200:
                            model.messages[target] = model.messages.get(target, 0) + 1
                    else:
                        response = await client.delete(f"/session/{target}")
                        if response.status_code == 200:
                            gone = model.subtree(target)
                            model.forget(gone)
                            mine = [s for s in mine if s not in gone]
                except httpx.TransportError:
                    if client is not c:
                        errors.append("instance A or B failed a request")
                    stats["c_failures"] += 1
                    stats["unanswered"] += before_kill
                    if before_kill and op != "create":
                        # Sent before C died and never answered: it may have committed.
                        affected = model.subtree(target)
                        uncertain.update(affected)
                        mine = [s for s in mine if s not in affected]
                    continue
                if response.status_code != 200:
                    errors.append(f"{op} {response.status_code} {response.text[:200]}")
                elif killed.is_set() and client is not c:
                    stats["served_after_kill"] += 1

        async def killer() -> None:
            await asyncio.sleep(1.5)
            await asyncio.to_thread(servers[2].kill9)
            killed.set()

        try:
            await asyncio.gather(killer(), *(worker(n) for n in range(12)))
            for client in (a, b):
                errors.extend(
                    await verify(client, model, preexisting, uncertain, stats["unanswered"] > 0)
                )
        finally:
            await _close(clients)
        return model, errors, stats

    model, errors, stats = asyncio.run(main())
    assert errors == []
    assert stats["c_failures"] > 0 and stats["served_after_kill"] > 50, stats
    assert model.titles and model.messages
