"""Fuzzing with schemathesis: no 5xx and schema-conformant answers, for our /doc and upstream's.

Runs the schemathesis CLI (its Python API changes between major versions) and reads its JUnit
report. Failures caused by known bugs in code owned elsewhere are listed in KNOWN with the
reason (each is a bug to fix there); anything else fails the test.
"""

from __future__ import annotations

import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.hardening.support import AUTH, AUTH_ENV, PASSWORD, start_server, stop_server
from tests.jssdk import unavailable
from tests.serverproc import RunningServer

SPEC = Path(__file__).resolve().parents[2].parent / "shared" / "reference"
SPEC = SPEC / "opencode-1.18.33.openapi.json"
SSE_OPERATIONS = {"event.subscribe", "global.event"}
# Streams (SSE and WebSockets) cannot be fuzzed as request/response; the rest start processes
# with a client-chosen command line, which random input must not get to choose.
UNFUZZED = SSE_OPERATIONS | {
    "v2.event.subscribe",
    "v2.session.events",
    "pty.connect",
    "v2.pty.connect",
    "pty.create",
    "v2.pty.create",
    "mcp.add",
    "tui.control.next",
}
CHECKS = "not_a_server_error,response_schema_conformance"

# (operation regex, check code, regex over the failure text) -> why it is tolerated here.
KNOWN: dict[tuple[str, str, str], str] = {
    (r"POST /session/\{sessionID\}/message$", "ST108", r"AssistantMessage"): (
        "the upstream spec types session.prompt's 200 `info` as AssistantMessage, but a noReply"
        " prompt answers the stored user message, as upstream itself does"
    ),
}

# schemathesis is in the test extra: its CLI sits beside this interpreter, activated or not.
ST = Path(sys.executable).with_name("st")


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    if not ST.is_file():
        unavailable(f"schemathesis is not installed ({ST} missing: pip install -e '.[test]')")
    base = tmp_path_factory.mktemp("fuzz")
    # Config and credential writes land in a scratch home, never the developer's own.
    home = base / "home"
    scratch = {
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "XDG_STATE_HOME": str(home / ".local" / "state"),
    }
    server = start_server(base, env={**AUTH_ENV, **scratch})
    yield server
    stop_server(server)


@dataclass
class Run:
    """What one schemathesis run did: its failures and how much it actually tested."""

    failures: list[tuple[str, str, str]]  # (operation, check code, failure text)
    returncode: int
    selected: int  # operations the filters selected
    tested: int  # operations it sent at least one case to
    generated: int  # test cases sent

    def assert_ran(self, operations: int) -> None:
        # Exit 1 means "failures found" (judged against KNOWN by the caller); anything else,
        # or a run that tested nothing, means schemathesis itself did not do its job.
        assert self.returncode == (1 if self.failures else 0), self.returncode
        assert self.selected == self.tested == operations, (self.selected, self.tested)
        assert self.generated >= operations, self.generated


def _count(pattern: str, output: str) -> int:
    match = re.search(pattern, output)
    assert match, f"no {pattern!r} in schemathesis output:\n{output[-3000:]}"
    return int(match.group(1))


def _run(schema: str, url: str, report: Path, args: list[str]) -> Run:
    """Run schemathesis with a fixed seed and read its JUnit report and summary."""
    command = [str(ST), "run", schema, "--url", url, "-a", f"opencode:{PASSWORD}", "-c", CHECKS]
    command += ["--seed", "1", "--no-color", "--report", "junit", "--report-dir", str(report)]
    command += ["--request-timeout", "20", "--max-failures", "200"]
    # Run from the report directory: schemathesis keeps a `.schemathesis/` cache in its cwd.
    done = subprocess.run(
        [*command, *args], capture_output=True, text=True, timeout=1200, cwd=report
    )
    output = done.stdout + done.stderr
    (xml_path,) = report.glob("*.xml")
    failures = []
    for case in ET.parse(xml_path).getroot().iter("testcase"):
        for failure in case.iter("failure"):
            text = failure.text or ""
            for code in sorted(set(re.findall(r"- (ST\d+)", text)) or {"?"}):
                failures.append((case.get("name", "?"), code, text))
        for error in case.iter("error"):
            failures.append((case.get("name", "?"), "error", error.text or ""))
    return Run(
        failures=failures,
        returncode=done.returncode,
        selected=_count(r"Selected: (\d+)/", output),
        tested=_count(r"Tested: (\d+)", output),
        generated=_count(r"(\d+) generated", output),
    )


def _operations(doc: dict[str, Any]) -> set[str]:
    return {
        op["operationId"]
        for ops in doc["paths"].values()
        for op in ops.values()
        if isinstance(op, dict) and "operationId" in op
    }


def _gist(text: str) -> str:
    """The failure's first explanation and its reproduction, not pages of schema."""
    lines = [x.strip() for x in text.splitlines() if x.strip()]
    why = next((x for x in lines if not x.startswith(("1.", "-", "{", "}"))), "")
    curl = next((x for x in lines if x.startswith("curl")), "")
    return f"{why[:300]} | {curl[:400]}"


def _unexplained(failures: list[tuple[str, str, str]]) -> list[str]:
    bad = []
    for operation, code, text in failures:
        known = any(
            re.match(op, operation) and code == known_code and re.search(pattern, text)
            for (op, known_code, pattern) in KNOWN
        )
        if not known:
            bad.append(f"{operation} {code}: {_gist(text)}")
    return bad


@pytest.mark.slow
def test_fuzz_our_own_schema(fuzzed: RunningServer, tmp_path: Path) -> None:
    args = ["-n", "5", "--phases", "examples,coverage,fuzzing"]
    doc = httpx.get(f"{fuzzed.url}/doc", auth=AUTH, timeout=10).json()
    ours = _operations(doc) - UNFUZZED
    for operation_id in sorted(ours):
        args += ["--include-operation-id", operation_id]
    run = _run(f"{fuzzed.url}/doc", fuzzed.url, tmp_path, args)
    bad = _unexplained(run.failures)
    assert not bad, "\n\n".join(bad)
    run.assert_ran(len(ours))
    assert httpx.get(f"{fuzzed.url}/global/health", auth=AUTH).status_code == 200


@pytest.mark.slow
def test_fuzz_upstream_schema_on_our_operations(fuzzed: RunningServer, tmp_path: Path) -> None:
    if not SPEC.is_file():
        pytest.skip(f"reference spec not found at {SPEC}")
    doc = httpx.get(f"{fuzzed.url}/doc", auth=AUTH, timeout=10).json()
    ours = _operations(doc) - UNFUZZED
    # Every reference operation is served (tests/surface/test_surface_walk.py), so this is
    # the whole reference but for the streams and process starters above.
    args = ["-n", "8", "--phases", "examples,fuzzing"]
    for operation_id in sorted(ours):
        args += ["--include-operation-id", operation_id]
    run = _run(str(SPEC), fuzzed.url, tmp_path, args)
    bad = _unexplained(run.failures)
    assert not bad, "\n\n".join(bad)
    run.assert_ran(len(ours))
