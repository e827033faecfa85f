"""Fuzzing with schemathesis: no 5xx and schema-conformant answers, for our /doc and upstream's.

Runs the schemathesis CLI (its Python API changes between major versions) and reads its JUnit
report. Failures caused by known bugs in code owned elsewhere are listed in KNOWN with the
reason (each is a bug to fix there); anything else fails the test.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.hardening.support import AUTH, AUTH_ENV, PASSWORD, start_server, stop_server
from tests.serverproc import RunningServer

SPEC = Path(__file__).resolve().parents[2].parent / "shared" / "reference"
SPEC = SPEC / "opencode-1.18.33.openapi.json"
SSE_OPERATIONS = {"event.subscribe", "global.event"}
CHECKS = "not_a_server_error,response_schema_conformance"

# (operation regex, check code, regex over the failure text) -> why it is tolerated here.
KNOWN: dict[tuple[str, str, str], str] = {
    (r"POST /session/\{sessionID\}/message$", "ST108", r"AssistantMessage"): (
        "the upstream spec types session.prompt's 200 `info` as AssistantMessage, but a noReply"
        " prompt answers the stored user message, as upstream itself does"
    ),
}

pytestmark = pytest.mark.skipif(shutil.which("st") is None, reason="schemathesis not installed")


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    server = start_server(tmp_path_factory.mktemp("fuzz"), env=AUTH_ENV)
    yield server
    stop_server(server)


def _run(schema: str, url: str, report: Path, args: list[str]) -> list[tuple[str, str, str]]:
    """Run schemathesis; return (operation, check code, failure text) for each failure."""
    command = ["st", "run", schema, "--url", url, "-a", f"opencode:{PASSWORD}", "-c", CHECKS]
    command += ["--seed", "1", "--no-color", "--report", "junit", "--report-dir", str(report)]
    command += ["--request-timeout", "20", "--max-failures", "200"]
    # Run from the report directory: schemathesis keeps a `.schemathesis/` cache in its cwd.
    subprocess.run([*command, *args], capture_output=True, text=True, timeout=240, cwd=report)
    (xml_path,) = report.glob("*.xml")
    failures = []
    for case in ET.parse(xml_path).getroot().iter("testcase"):
        for failure in case.iter("failure"):
            text = failure.text or ""
            for code in sorted(set(re.findall(r"- (ST\d+)", text)) or {"?"}):
                failures.append((case.get("name", "?"), code, text))
        for error in case.iter("error"):
            failures.append((case.get("name", "?"), "error", error.text or ""))
    return failures


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


def test_fuzz_our_own_schema(fuzzed: RunningServer, tmp_path: Path) -> None:
    args = ["-n", "5", "--phases", "examples,coverage,fuzzing"]
    args += ["--exclude-path", "/event", "--exclude-path", "/global/event"]
    failures = _run(f"{fuzzed.url}/doc", fuzzed.url, tmp_path, args)
    bad = _unexplained(failures)
    assert not bad, "\n\n".join(bad)
    assert httpx.get(f"{fuzzed.url}/global/health", auth=AUTH).status_code == 200


def test_fuzz_upstream_schema_on_our_operations(fuzzed: RunningServer, tmp_path: Path) -> None:
    if not SPEC.is_file():
        pytest.skip(f"reference spec not found at {SPEC}")
    doc = httpx.get(f"{fuzzed.url}/doc", auth=AUTH, timeout=10).json()
    ours = {
        op["operationId"]
        for ops in doc["paths"].values()
        for op in ops.values()
        if isinstance(op, dict) and "operationId" in op
    } - SSE_OPERATIONS
    args = ["-n", "8", "--phases", "examples,fuzzing"]
    for operation_id in sorted(ours):
        args += ["--include-operation-id", operation_id]
    failures = _run(str(SPEC), fuzzed.url, tmp_path, args)
    bad = _unexplained(failures)
    assert not bad, "\n\n".join(bad)
