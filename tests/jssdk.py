"""The official JavaScript SDK (`@opencode-ai/sdk`, v1 and `/v2`), installed once and run by node.

Tests write an ES module that uses `process.env.BASE_URL` and `process.env.DIR`, print one JSON
line, and get it back parsed. Without node or npm the test is skipped with its reason, except
under `CI=true`, where it fails: `.ci/run` installs what these tests need.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

SDK_PACKAGE = "@opencode-ai/sdk"


def unavailable(reason: str) -> None:
    """Skip, or fail under CI=true, because a tool the test needs is missing."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: .ci/run must install it)")
    pytest.skip(reason)


def install(root: Path) -> Path:
    """Install the SDK into `root` (an empty directory) and return it."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        unavailable("node or npm is not installed, so the JS SDK cannot run")
    (root / "package.json").write_text('{"name": "sdk-probe", "private": true, "type": "module"}')
    try:
        done = subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--silent", SDK_PACKAGE],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=180,
        )
    except subprocess.TimeoutExpired:
        unavailable(f"npm install {SDK_PACKAGE} timed out")
    if done.returncode != 0:
        unavailable(f"npm install {SDK_PACKAGE} failed: {done.stderr.strip()[-300:]}")
    return root


def run(root: Path, script: str, base_url: str, directory: Path | str, **env: str) -> Any:
    """Run `script` as an ES module beside the installed SDK; its stdout is one JSON value."""
    name = f"probe_{abs(hash(script))}.mjs"
    (root / name).write_text(script)
    done = subprocess.run(
        ["node", name],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "BASE_URL": base_url, "DIR": str(directory), **env},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="session")
def js_sdk(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory with the official JS SDK installed, shared by the whole test run."""
    return install(tmp_path_factory.mktemp("jssdk"))
