"""Authentication: with a password set, every route (SSE and /doc included) answers 401."""

from __future__ import annotations

import contextlib
import os
import re
import socket
import struct
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.hardening.support import AUTH, AUTH_ENV, PASSWORD, basic, start_server, stop_server
from tests.serverproc import RunningServer

_IDS = {"sessionID": "ses_fffffffffffe0000000000000", "messageID": "msg_000000000001"}
_IDS["partID"] = "prt_000000000001"


def _fill(path: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: _IDS.get(m.group(1), "x_1"), path)


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    server = start_server(tmp_path_factory.mktemp("secured"), env=AUTH_ENV)
    yield server
    stop_server(server)


def test_every_documented_route_needs_credentials(secured: RunningServer) -> None:
    doc = httpx.get(f"{secured.url}/doc", auth=AUTH, timeout=10).json()
    checked = 0
    with httpx.Client(base_url=secured.url, timeout=10) as client:
        for path, operations in doc["paths"].items():
            for method in operations:
                if path == "/global/health":
                    continue
                # A body too, so a route that would accept it still has to refuse first.
                r = client.request(method.upper(), _fill(path), json={})
                assert r.status_code == 401, (method, path, r.status_code)
                assert r.headers["www-authenticate"] == 'Basic realm="pyopencode"'
                assert r.json()["name"] == "UnauthorizedError"
                checked += 1
        for path in ("/doc", "/event", "/global/event", "/no/such/route"):
            r = client.get(path)
            assert r.status_code == 401, path
    assert checked >= 15


def test_health_without_credentials_reveals_nothing(secured: RunningServer) -> None:
    anonymous = httpx.get(f"{secured.url}/global/health", timeout=10)
    assert anonymous.status_code == 200 and anonymous.json() == {"healthy": True}
    full = httpx.get(f"{secured.url}/global/health", auth=AUTH, timeout=10).json()
    assert full["healthy"] is True and "version" in full


@pytest.mark.parametrize(
    "header",
    [
        basic("opencode", "wrong"),
        basic("someone", PASSWORD),
        basic("opencode", PASSWORD + "x"),
        basic("opencode", ""),
        "Basic !!!notbase64",
        "Bearer " + PASSWORD,
        basic("opencode:" + PASSWORD, ""),
    ],
)
def test_wrong_credentials_are_refused(secured: RunningServer, header: str) -> None:
    r = httpx.get(f"{secured.url}/session", headers={"Authorization": header}, timeout=10)
    assert r.status_code == 401


def test_right_credentials_work(secured: RunningServer) -> None:
    assert httpx.get(f"{secured.url}/session", auth=AUTH, timeout=10).status_code == 200
    created = httpx.post(f"{secured.url}/session", auth=AUTH, json={}, timeout=10)
    assert created.status_code == 200
    assert httpx.get(f"{secured.url}/doc", auth=AUTH, timeout=10).status_code == 200


def _serve(tmp_path: Path, *args: str) -> tuple[int, str]:
    command = [sys.executable, "-m", "pyopencode", "serve", "--port", "0"]
    proc = subprocess.run(
        [*command, "--data-dir", str(tmp_path), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if not k.startswith("OPENCODE_SERVER_")},
    )
    return proc.returncode, proc.stderr


def test_non_loopback_without_password_refuses_to_start(tmp_path: Path) -> None:
    code, err = _serve(tmp_path, "--hostname", "0.0.0.0")
    assert code != 0
    assert "refusing to listen on 0.0.0.0 without a password" in err


def test_wildcard_cors_refuses_to_start(tmp_path: Path) -> None:
    code, err = _serve(tmp_path, "--cors", "*")
    assert code != 0 and "wildcards" in err


def test_insecure_no_auth_starts_on_all_interfaces(
    server_factory: Callable[..., RunningServer],
) -> None:
    server = server_factory(extra_args=["--hostname", "0.0.0.0", "--insecure-no-auth"])
    assert server.proc is not None
    port = urlsplit(server.url).port
    assert port is not None, server.url
    # The kernel's view: the server's own listening socket is bound to the wildcard address.
    assert ("0.0.0.0", port) in _listening(server.proc.pid), _listening(server.proc.pid)
    assert httpx.get(f"http://127.0.0.1:{port}/session", timeout=10).status_code == 200
    # And a client on another interface's address gets in, without credentials.
    for address in _local_addresses():
        url = f"http://{address}:{port}/session"
        assert httpx.get(url, timeout=10).status_code == 200, address


def _listening(pid: int) -> set[tuple[str, int]]:
    """(IPv4 address, port) of each TCP socket that process `pid` is listening on."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, state, inode = fields[1], fields[3], fields[9]
        if state == "0A" and inode in inodes:  # 0A: TCP_LISTEN
            hex_ip, hex_port = local.split(":")
            address = socket.inet_ntoa(struct.pack("<I", int(hex_ip, 16)))
            found.add((address, int(hex_port, 16)))
    return found


def _local_addresses() -> set[str]:
    """This machine's IPv4 addresses other than loopback (may be none in a bare sandbox)."""
    found, last = set(), ""
    for line in Path("/proc/net/fib_trie").read_text().splitlines():
        match = re.search(r"\|-- (\d+\.\d+\.\d+\.\d+)$", line)
        if match:
            last = match.group(1)
        elif "/32 host LOCAL" in line:  # describes the address on the line before
            found.add(last)
    return {a for a in found if not a.startswith("127.")}


def test_password_allows_all_interfaces_and_username_is_configurable(
    server_factory: Callable[..., RunningServer],
) -> None:
    env = {**AUTH_ENV, "OPENCODE_SERVER_USERNAME": "alice"}
    server = server_factory(extra_args=["--hostname", "0.0.0.0"], env=env)
    assert httpx.get(f"{server.url}/session", timeout=10).status_code == 401
    assert httpx.get(f"{server.url}/session", auth=AUTH, timeout=10).status_code == 401
    assert httpx.get(f"{server.url}/session", auth=("alice", PASSWORD), timeout=10).is_success
