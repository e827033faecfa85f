"""Randomized concurrent churn against a real server, checked against a model of what was acked."""

from __future__ import annotations

import asyncio
import random

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.churn import ALL, Model, churn_worker, verify
from tests.serverproc import RunningServer


async def _churn(url: str, seed: int, workers: int, steps: int) -> tuple[Model, list[str]]:
    model = Model()
    errors: list[str] = []
    limits = httpx.Limits(max_connections=workers, max_keepalive_connections=workers)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as client:
        before = await client.get("/session", params=ALL)
        preexisting = {s["id"] for s in before.json()}
        await asyncio.gather(
            *(
                churn_worker([client], random.Random(seed * 1000 + n), steps, model, errors)
                for n in range(workers)
            )
        )
        errors += await verify(client, model, preexisting)
    return model, errors


def test_churn_matches_the_model(server: RunningServer) -> None:
    model, errors = asyncio.run(_churn(server.url, seed=1, workers=24, steps=60))
    assert errors == []
    assert model.deleted, "the workload should have deleted something"
    assert model.titles, "the workload should have left something"


@settings(
    max_examples=5,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(seed=st.integers(min_value=0, max_value=2**32 - 1))
def test_churn_random_seeds(server: RunningServer, seed: int) -> None:
    # One server across examples: sessions left by earlier examples are excluded by `_churn`.
    _model, errors = asyncio.run(_churn(server.url, seed=seed, workers=12, steps=30))
    assert errors == []
