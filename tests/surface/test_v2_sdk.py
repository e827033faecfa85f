"""The official SDK's v2 client on `/api/*` (not sessions), and what pyopencode refuses."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from pyopencode.server.routes.unsupported import REFUSALS
from tests import jssdk
from tests.schema import reference
from tests.serverproc import RunningServer
from tests.surface.events import EventLog

SCRIPT = r"""
import { createOpencodeClient } from "@opencode-ai/sdk/v2";
const client = createOpencodeClient({ baseUrl: process.env.BASE_URL });
const loc = { location: { directory: process.env.DIR } };
const out = {};
out.health = (await client.v2.health.get()).data;
out.providers = (await client.v2.provider.list(loc)).data;
out.provider = (await client.v2.provider.get({ providerID: "fake", ...loc })).data;
const missing = await client.v2.provider.get({ providerID: "nope", ...loc });
out.missingProvider = { status: missing.response.status, error: missing.error };
out.models = (await client.v2.model.list(loc)).data;
out.permissions = (await client.v2.permission.request.list(loc)).data;
out.saved = (await client.v2.permission.saved.list()).data;
const connected = await client.v2.integration.connect.key(
  { integrationID: "fake", key: "sk-v2-key", label: "mine", ...loc });
out.connectStatus = connected.response.status;
out.integration = (await client.v2.integration.get({ integrationID: "fake", ...loc })).data;
const relabel = await client.v2.credential.update({ credentialID: "cred_fake", label: "ours" });
out.relabelStatus = relabel.response.status;
out.integrations = (await client.v2.integration.list(loc)).data;
const oauth = await client.v2.integration.connect.oauth({ integrationID: "fake", methodID: "x" });
out.oauth = { status: oauth.response.status, error: oauth.error };
const pty = await client.v2.pty.create({ command: "/bin/sh", ...loc });
out.pty = pty.data;
out.ptys = (await client.v2.pty.list(loc)).data;
out.ptyRemoved = (await client.v2.pty.remove({ ptyID: pty.data.data.id, ...loc })).response.status;
console.log(JSON.stringify(out));
"""

REMOVE = r"""
import { createOpencodeClient } from "@opencode-ai/sdk/v2";
const client = createOpencodeClient({ baseUrl: process.env.BASE_URL });
const removed = await client.v2.credential.remove({ credentialID: "cred_fake" });
const again = await client.v2.credential.remove({ credentialID: "cred_fake" });
console.log(JSON.stringify({ removed: removed.response.status, again: again.response.status }));
"""


def _valid(template: str, method: str, status: int, body: Any) -> None:
    assert reference().response_problems(template, method, status, body) == [], body


def test_v2_client(
    server_factory: Callable[..., RunningServer], tmp_path: Path, js_sdk: Path
) -> None:
    data_home = tmp_path / "xdg-data"
    data_home.mkdir()
    project = tmp_path / "work0"
    project.mkdir()
    spec = {
        "name": "Fake",
        "npm": "@ai-sdk/openai-compatible",
        "options": {"baseURL": "http://127.0.0.1:9/v1"},
        "models": {"m1": {"name": "M1"}},
    }
    (project / "opencode.json").write_text(json.dumps({"provider": {"fake": spec}}))
    server = server_factory(env={"XDG_DATA_HOME": str(data_home)})
    out = jssdk.run(js_sdk, SCRIPT, server.url, project)

    assert out["health"] == {"healthy": True}
    _valid("/api/health", "get", 200, out["health"])
    _valid("/api/provider", "get", 200, out["providers"])
    _valid("/api/provider/{providerID}", "get", 200, out["provider"])
    assert out["provider"]["data"]["id"] == "fake"
    assert out["missingProvider"]["status"] == 404
    _valid("/api/provider/{providerID}", "get", 404, out["missingProvider"]["error"])
    _valid("/api/model", "get", 200, out["models"])
    _valid("/api/permission/request", "get", 200, out["permissions"])
    assert out["permissions"]["data"] == []
    _valid("/api/permission/saved", "get", 200, out["saved"])
    assert out["connectStatus"] == 204
    _valid("/api/integration/{integrationID}", "get", 200, out["integration"])
    assert out["integration"]["data"]["connections"] == [
        {"type": "credential", "id": "cred_fake", "label": "mine"}
    ]
    assert out["relabelStatus"] == 204
    _valid("/api/integration", "get", 200, out["integrations"])
    fake = [i for i in out["integrations"]["data"] if i["id"] == "fake"]
    assert fake[0]["connections"][0]["label"] == "ours"
    assert out["oauth"]["status"] == 400
    _valid("/api/integration/{integrationID}/connect/oauth", "post", 400, out["oauth"]["error"])
    _valid("/api/pty", "post", 200, out["pty"])
    _valid("/api/pty", "get", 200, out["ptys"])
    assert out["ptyRemoved"] == 204

    stored = json.loads((data_home / "opencode" / "auth.json").read_text())
    assert stored == {"fake": {"type": "api", "key": "sk-v2-key", "metadata": {"label": "ours"}}}
    removed = jssdk.run(js_sdk, REMOVE, server.url, project)
    assert removed == {"removed": 204, "again": 400}
    assert json.loads((data_home / "opencode" / "auth.json").read_text()) == {}


def test_v2_event_stream(server: RunningServer) -> None:
    frames: list[dict[str, Any]] = []
    log = EventLog(server.url)  # the v1 stream, to know when the event was published
    with httpx.stream(
        "GET", f"{server.url}/api/event", timeout=httpx.Timeout(10, read=10)
    ) as stream:
        lines = stream.iter_lines()
        first = next(lines)
        frames.append(json.loads(first.removeprefix("data: ")))
        httpx.post(f"{server.url}/tui/append-prompt", json={"text": "v2"})
        log.wait("tui.prompt.append")
        for line in lines:
            if line.startswith("data: "):
                frames.append(json.loads(line.removeprefix("data: ")))
                break
    log.close()
    assert frames[0]["type"] == "server.connected"
    assert frames[1]["type"] == "tui.prompt.append"
    assert frames[1]["data"] == {"text": "v2"}


def test_unsupported_operations_refuse_clearly(server: RunningServer) -> None:
    doc = httpx.get(f"{server.url}/doc").json()
    samples = {"projectID": "global", "providerID": "openai", "id": "wrk_x"}
    with httpx.Client(base_url=server.url, timeout=10) as client:
        for refusal in REFUSALS:
            url = refusal.path
            for name, value in samples.items():
                url = url.replace("{" + name + "}", value)
            r = client.request(refusal.method, url, json={})
            assert r.status_code == 400, (refusal.operation_id, r.text)
            body = r.json()
            assert "pyopencode" in (body.get("data") or body)["message"]
            if refusal.operation_id != "experimental.console.switchOrg":
                _valid(refusal.path, refusal.method.lower(), 400, body)
            described = doc["paths"][refusal.path][refusal.method.lower()]["description"]
            assert described.startswith("Not supported:")
        for path in ("/experimental/workspace/adapter", "/experimental/worktree"):
            r = client.get(path)
            assert r.status_code == 200 and r.json() == []
            _valid(path, "get", 200, r.json())


@pytest.mark.parametrize("sid", ["ses_nope"])
def test_permission_respond_unknown(server: RunningServer, sid: str) -> None:
    r = httpx.post(f"{server.url}/session/{sid}/permissions/per_nope", json={"response": "once"})
    assert r.status_code == 404
    _valid("/session/{sessionID}/permissions/{permissionID}", "post", 404, r.json())
    bad = httpx.post(f"{server.url}/session/{sid}/permissions/per_nope", json={"response": "x"})
    assert bad.status_code == 400
