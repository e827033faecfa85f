"""The official JS SDK's own calls for terminals, UI control, config, credentials and logs."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

from tests import jssdk
from tests.serverproc import RunningServer
from tests.surface.events import EventLog

SCRIPT = r"""
import { createOpencodeClient } from "@opencode-ai/sdk/v2";
const client = createOpencodeClient({ baseUrl: process.env.BASE_URL, directory: process.env.DIR });
const out = {};
out.shells = (await client.pty.shells()).data.length > 0;
const pty = (await client.pty.create({ command: "/bin/sh", title: "sdk" })).data;
out.pty = pty;
out.resized = (await client.pty.update({ ptyID: pty.id, size: { rows: 30, cols: 90 } })).data;
out.token = (await client.pty.connectToken({ ptyID: pty.id })).data;
out.removed = (await client.pty.remove({ ptyID: pty.id })).data;
out.append = (await client.tui.appendPrompt({ text: "from-sdk" })).data;
out.toast = (await client.tui.showToast({ message: "hi", variant: "success" })).data;
out.configUpdate = (await client.config.update({ config: { username: "sdk-user" } })).data;
out.globalUpdate = (await client.global.config.update({ config: { share: "manual" } })).data;
out.globalGet = (await client.global.config.get()).data;
const key = { type: "api", key: "k1" };
out.authSet = (await client.auth.set({ providerID: "fake", auth: key })).data;
out.log = (await client.app.log({ service: "sdk", level: "info", message: "hello" })).data;
out.authRemove = (await client.auth.remove({ providerID: "fake" })).data;
out.dispose = (await client.instance.dispose()).data;
console.log(JSON.stringify(out));
"""


def test_sdk_calls(
    server_factory: Callable[..., RunningServer], tmp_path: Path, js_sdk: Path
) -> None:
    env = {}
    for name in ("CONFIG", "DATA"):
        (tmp_path / name).mkdir()
        env[f"XDG_{name}_HOME"] = str(tmp_path / name)
    server = server_factory(env=env)
    log = EventLog(server.url, {"directory": str(server.cwd)})
    out = jssdk.run(js_sdk, SCRIPT, server.url, server.cwd)
    assert out["shells"] is True
    assert out["pty"]["title"] == "sdk" and out["pty"]["status"] == "running"
    assert out["resized"]["id"] == out["pty"]["id"]
    assert out["token"]["expires_in"] > 0 and out["token"]["ticket"]
    assert out["removed"] is True
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.killpg(out["pty"]["pid"], 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        raise AssertionError("the SDK's terminal outlived pty.remove")
    assert out["append"] is True and out["toast"] is True
    assert out["configUpdate"]["username"] == "sdk-user"
    assert json.loads((server.cwd / "opencode.json").read_text()) == {"username": "sdk-user"}
    assert out["globalUpdate"] == {"share": "manual"} == out["globalGet"]
    assert out["authSet"] is True and out["authRemove"] is True and out["log"] is True
    assert json.loads((tmp_path / "DATA" / "opencode" / "auth.json").read_text()) == {}
    assert out["dispose"] is True
    log.wait("server.instance.disposed")
    kinds = [e["type"] for e in log.events]
    for kind in ("pty.created", "pty.updated", "pty.deleted", "tui.prompt.append"):
        assert kind in kinds, kinds
    log.close()
