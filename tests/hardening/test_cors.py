"""CORS: off by default; only the exact origins given with --cors, never a wildcard."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.hardening.support import AUTH, AUTH_ENV, start_server, stop_server
from tests.serverproc import RunningServer

ALLOWED = "https://app.example.com"
EVIL = "https://evil.example.net"


def _preflight(url: str, origin: str) -> httpx.Response:
    headers = {
        "Origin": origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type",
    }
    return httpx.options(f"{url}/session", headers=headers, timeout=10)


def test_no_cors_headers_by_default(server: RunningServer) -> None:
    pre = _preflight(server.url, ALLOWED)
    assert not any(h.startswith("access-control-") for h in pre.headers)
    r = httpx.get(f"{server.url}/session", headers={"Origin": ALLOWED}, timeout=10)
    assert r.status_code == 200
    assert not any(h.startswith("access-control-") for h in r.headers)


@pytest.fixture(scope="module")
def cors_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    args = ["--cors", ALLOWED, "--cors", "http://localhost:3000"]
    server = start_server(tmp_path_factory.mktemp("cors"), extra_args=args, env=AUTH_ENV)
    yield server
    stop_server(server)


def test_only_the_named_origin_is_allowed(cors_server: RunningServer) -> None:
    server = cors_server
    refused = _preflight(server.url, EVIL)
    assert refused.status_code >= 400
    assert "access-control-allow-origin" not in refused.headers
    simple = httpx.get(f"{server.url}/session", headers={"Origin": EVIL}, auth=AUTH, timeout=10)
    assert "access-control-allow-origin" not in simple.headers

    allowed = _preflight(server.url, ALLOWED)
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == ALLOWED
    assert allowed.headers["access-control-allow-credentials"] == "true"
    assert "authorization" in allowed.headers["access-control-allow-headers"].lower()
    r = httpx.get(f"{server.url}/session", headers={"Origin": ALLOWED}, auth=AUTH, timeout=10)
    assert r.headers["access-control-allow-origin"] == ALLOWED
    # A prefix or suffix of an allowed origin is a different origin.
    for near in (ALLOWED + ".evil.net", "http://app.example.com", ALLOWED + ":8443"):
        assert "access-control-allow-origin" not in _preflight(server.url, near).headers


def test_cors_with_auth_answers_preflight_and_labels_401(cors_server: RunningServer) -> None:
    server = cors_server
    # Browsers send preflights without credentials; they must not need any.
    assert _preflight(server.url, ALLOWED).status_code == 200
    r = httpx.get(f"{server.url}/session", headers={"Origin": ALLOWED}, timeout=10)
    assert r.status_code == 401
    assert r.headers["access-control-allow-origin"] == ALLOWED
    ok = httpx.get(f"{server.url}/session", headers={"Origin": ALLOWED}, auth=AUTH, timeout=10)
    assert ok.status_code == 200
