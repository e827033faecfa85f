"""Named consistency workloads; each drives a server through a RecordingClient, then reads back."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

from pyopencode.check.history import Entry, RecordingClient

T = TypeVar("T")
Step = Callable[[], None]


@dataclass(frozen=True)
class Options:
    """Size of one workload run."""

    rounds: int
    sessions: int
    concurrency: int
    seed: int


Runner = Callable[[RecordingClient, Options, Step], Awaitable[None]]


@dataclass(frozen=True)
class Workload:
    """A named scenario with defaults sized to finish in seconds on a healthy server."""

    name: str
    summary: str
    run: Runner
    rounds: int
    sessions: int
    concurrency: int

    def options(
        self, rounds: int | None, sessions: int | None, concurrency: int | None, seed: int
    ) -> Options:
        return Options(
            rounds=max(1, rounds or self.rounds),
            sessions=max(1, sessions or self.sessions),
            concurrency=max(1, concurrency or self.concurrency),
            seed=seed,
        )


async def _bounded(limit: int, jobs: Iterable[Awaitable[T]]) -> list[T]:
    """Await every job with at most `limit` in flight; results in job order."""
    gate = asyncio.Semaphore(limit)

    async def one(job: Awaitable[T]) -> T:
        async with gate:
            return await job

    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(one(job)) for job in jobs]
    return [t.result() for t in tasks]


def _ids(entries: Iterable[Entry]) -> list[str]:
    return [e.session for e in entries if e.session]


async def _read_back(c: RecordingClient, ids: list[str], concurrency: int) -> None:
    await c.list()
    await _bounded(concurrency, (c.get(s) for s in ids))


async def concurrent_delete(c: RecordingClient, o: Options, step: Step) -> None:
    """The bug report: create N sessions, delete them all at once, list."""
    for r in range(o.rounds):
        ids = _ids(
            [await c.create(c.title(f"concurrent-delete r{r} s{i}")) for i in range(o.sessions)]
        )
        await _bounded(o.concurrency, (c.delete(s) for s in ids))
        await _read_back(c, ids, o.concurrency)
        step()


async def churn(c: RecordingClient, o: Options, step: Step) -> None:
    """Random concurrent create/patch/delete/get/list, steered by a model of what was acked."""
    rng = random.Random(o.seed)
    live: list[str] = []
    gone: list[str] = []
    parent: dict[str, str] = {}

    def subtree(root: str) -> set[str]:
        found = {root}
        grew = True
        while grew:
            grew = False
            for child, p in parent.items():
                if p in found and child not in found:
                    found.add(child)
                    grew = True
        return found

    created = await _bounded(
        o.concurrency, (c.create(c.title(f"churn init {i}")) for i in range(o.sessions))
    )
    live.extend(_ids(created))
    ops = iter(range(o.rounds))
    kinds = ("create", "child", "patch", "delete", "get", "list", "children")
    weights = (3, 1, 3, 3, 3, 1, 1)

    async def one(n: int) -> None:
        kind = rng.choices(kinds, weights)[0] if live else "create"
        if kind == "create":
            e = await c.create(c.title(f"churn op{n}"))
            live.extend(_ids([e]))
        elif kind == "child":
            p = rng.choice(live)
            e = await c.create(c.title(f"churn op{n} child"), parent=p)
            if e.session:
                parent[e.session] = p
                # The parent's delete may have been sent meanwhile; then the child is doomed.
                (live if p in live else gone).append(e.session)
        elif kind == "patch":
            await c.patch(rng.choice(live), c.title(f"churn op{n} patched"))
        elif kind == "delete":
            target = rng.choice(live)
            doomed = subtree(target)
            live[:] = [s for s in live if s not in doomed]
            gone.extend(doomed)
            await c.delete(target)
        elif kind == "get":
            await c.get(rng.choice(live + gone[-10:]))
        elif kind == "children":
            await c.children(rng.choice(live))
        else:
            await c.list()

    async def worker() -> None:
        for n in ops:
            await one(n)
            step()

    async with asyncio.TaskGroup() as group:
        for _ in range(o.concurrency):
            group.create_task(worker())
    await _read_back(c, live + gone, o.concurrency)


async def cascade(c: RecordingClient, o: Options, step: Step) -> None:
    """Delete a root while children, a grandchild, messages and parts exist; a write races it."""

    async def tree(r: int) -> None:
        root = (await c.create(c.title(f"cascade r{r} root"))).session
        if root is None:
            return
        kids = _ids(
            [
                await c.create(c.title(f"cascade r{r} child{k}"), parent=root)
                for k in range(o.sessions)
            ]
        )
        nodes = [root, *kids]
        if kids:
            nodes += _ids([await c.create(c.title(f"cascade r{r} grandchild"), parent=kids[0])])
        for sid in nodes:
            await c.prompt(sid, f"{c.prefix} message for {sid}")
        await c.children(root)
        await c.messages(nodes[-1])
        # Late writes race the delete, as a running agent loop would: a message, and a subtask
        # session under the deepest node. Either may win, but neither may outlive the delete.
        _, _, late = await asyncio.gather(
            c.delete(root),
            c.prompt(nodes[-1], f"{c.prefix} late write"),
            c.create(c.title(f"cascade r{r} late child"), parent=nodes[-1]),
        )
        nodes += _ids([late])
        for sid in nodes:
            await c.get(sid)
            await c.messages(sid)
        for sid in nodes[:2]:
            await c.children(sid)
        await c.list()
        step()

    await _bounded(o.concurrency, (tree(r) for r in range(o.rounds)))


async def double_delete(c: RecordingClient, o: Options, step: Step) -> None:
    """Two concurrent deletes of each id: exactly one may succeed."""
    for r in range(o.rounds):
        ids = _ids([await c.create(c.title(f"double-delete r{r} s{i}")) for i in range(o.sessions)])
        await _bounded(o.concurrency, (c.delete(s) for s in ids for _ in range(2)))
        await _read_back(c, ids, o.concurrency)
        step()


async def _delete_while_reading(
    c: RecordingClient, ids: list[str], o: Options, readers: int, seed: int
) -> None:
    done = asyncio.Event()

    async def deleter() -> None:
        try:
            await _bounded(o.concurrency, (c.delete(s) for s in ids))
        finally:
            done.set()

    async def reader(k: int) -> None:
        rng = random.Random(seed + k)
        while not done.is_set():
            await c.list()
            await c.get(rng.choice(ids))

    async with asyncio.TaskGroup() as group:
        group.create_task(deleter())
        for k in range(readers):
            group.create_task(reader(k))


async def read_during_delete(c: RecordingClient, o: Options, step: Step) -> None:
    """Lists and gets keep running while a batch of deletes runs."""
    readers = max(2, o.concurrency // 2)
    for r in range(o.rounds):
        created = await _bounded(
            o.concurrency,
            (c.create(c.title(f"read-during-delete r{r} s{i}")) for i in range(o.sessions)),
        )
        ids = _ids(created)
        if ids:
            await _delete_while_reading(c, ids, o, readers, o.seed * 1000 + r * 100)
            await _read_back(c, ids, o.concurrency)
        step()


WORKLOADS: dict[str, Workload] = {
    w.name: w
    for w in (
        Workload(
            "concurrent-delete",
            "create N, delete all concurrently, list",
            concurrent_delete,
            rounds=50,
            sessions=5,
            concurrency=5,
        ),
        Workload(
            "churn",
            "concurrent create/patch/delete/get/list",
            churn,
            rounds=300,
            sessions=20,
            concurrency=8,
        ),
        Workload(
            "cascade",
            "delete a root with children, messages and a racing write",
            cascade,
            rounds=20,
            sessions=3,
            concurrency=4,
        ),
        Workload(
            "double-delete",
            "two concurrent deletes of one id",
            double_delete,
            rounds=30,
            sessions=4,
            concurrency=8,
        ),
        Workload(
            "read-during-delete",
            "lists and gets while deletes run",
            read_during_delete,
            rounds=5,
            sessions=40,
            concurrency=8,
        ),
    )
}
