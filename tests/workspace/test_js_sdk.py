"""The official JS SDK (v1 client) reads, lists, searches and gets status of a real repo."""

from __future__ import annotations

from pathlib import Path

from tests import jssdk
from tests.serverproc import RunningServer

SCRIPT = """
import { createOpencodeClient } from "@opencode-ai/sdk";
const client = createOpencodeClient({ baseUrl: process.env.BASE_URL, directory: process.env.DIR });
const opts = { throwOnError: true };
const read = await client.file.read({ query: { path: "a.txt" }, ...opts });
const list = await client.file.list({ query: { path: "src" }, ...opts });
const status = await client.file.status({ ...opts });
const text = await client.find.text({ query: { pattern: "needle" }, ...opts });
const files = await client.find.files({ query: { query: "main" }, ...opts });
const escape = await client.file.read({ query: { path: "../../etc/passwd" } });
console.log(JSON.stringify({
  read: read.data, list: list.data, status: status.data, text: text.data, files: files.data,
  escape: { status: escape.response.status, error: escape.error },
}));
"""


def test_js_sdk_file_and_find(js_sdk: Path, shared_server: RunningServer, repo: Path) -> None:
    out = jssdk.run(js_sdk, SCRIPT, shared_server.url, repo)
    assert out["read"]["content"] == "hello\nthere\nworld" and "+there" in out["read"]["diff"]
    assert [n["path"] for n in out["list"]] == ["src/sub/", "src/main.py"]
    assert [s["path"] for s in out["status"]] == ["a.txt", "new.txt", "src/sub/deep.txt"]
    assert [m["path"]["text"] for m in out["text"]] == ["new.txt"]
    assert out["files"][0] == "src/main.py"
    assert out["escape"]["status"] == 403
    assert out["escape"]["error"]["name"] == "ForbiddenError"


V2_VCS = """
import { createOpencodeClient } from "@opencode-ai/sdk/v2";
const client = createOpencodeClient({ baseUrl: process.env.BASE_URL, directory: process.env.DIR });
const opts = { throwOnError: true };
const status = await client.vcs.status({}, opts);
const diff = await client.vcs.diff({ mode: "git", context: 1 }, opts);
const raw = await client.vcs.diff2.raw({}, { ...opts, parseAs: "text" });
const patch = "--- /dev/null\\n+++ b/sdk.txt\\n@@ -0,0 +1 @@\\n+from the sdk\\n";
const applied = await client.vcs.apply({ patch }, opts);
const refused = await client.vcs.apply({ patch });
console.log(JSON.stringify({
  status: status.data, diff: diff.data, raw: raw.data, applied: applied.data,
  refused: { status: refused.response.status, error: refused.error },
}));
"""


def test_js_sdk_v2_vcs(js_sdk: Path, shared_server: RunningServer, repo: Path) -> None:
    out = jssdk.run(js_sdk, V2_VCS, shared_server.url, repo)
    assert [s["file"] for s in out["status"]] == ["a.txt", "new.txt", "src/sub/deep.txt"]
    assert [d["file"] for d in out["diff"]] == ["a.txt", "new.txt", "src/sub/deep.txt"]
    assert "+there" in out["raw"]
    assert out["applied"] == {"applied": True}
    assert (repo / "sdk.txt").read_text() == "from the sdk\n"
    assert out["refused"]["status"] == 400
    assert out["refused"]["error"]["data"]["reason"] == "not-clean"
