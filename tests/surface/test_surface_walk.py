"""Walks every (path, method) of the reference: none may answer 404 "No route".

Every one of the reference's 188 operations is served for real or answers a declared 4xx;
the test lists any that is not, and fails.
"""

from __future__ import annotations

import re
from typing import Any

import httpx

from tests.schema import reference
from tests.serverproc import RunningServer

_METHODS = ("get", "post", "put", "patch", "delete")
# Streams and long polls: only the status line is read.
_STREAMING = {"/event", "/global/event", "/api/event", "/tui/control/next"}
_SAMPLE = {
    "sessionID": "ses_0000000000000000000000000",
    "messageID": "msg_0000000000000000000000000",
    "partID": "prt_0000000000000000000000000",
    "ptyID": "pty_0000000000000000000000000",
    "requestID": "per_0000000000000000000000000",
    "permissionID": "per_0000000000000000000000000",
}


def _url(template: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: _SAMPLE.get(m.group(1), "x"), template).replace(
        "/*", "/x"
    )


def _no_route(client: httpx.Client, method: str, template: str) -> bool:
    url = _url(template)
    path_only = template.split("{")[0].rstrip("/") if "{" in template else template
    if path_only in _STREAMING or template in _STREAMING:
        try:
            with client.stream(method.upper(), url, timeout=httpx.Timeout(5, read=0.5)) as r:
                status, text = r.status_code, "" if r.status_code != 404 else r.read().decode()
        except httpx.ReadTimeout:
            return False  # it is there, waiting
    else:
        kwargs: dict[str, Any] = {} if method == "get" else {"json": {}}
        r = client.request(method.upper(), url, **kwargs)
        status, text = r.status_code, r.text
    return status == 404 and "No route" in text


def test_no_reference_operation_is_missing(server: RunningServer) -> None:
    spec = reference().spec
    missing: list[str] = []
    with httpx.Client(base_url=server.url, timeout=15) as client:
        for template, ops in spec["paths"].items():
            for method in _METHODS:
                op = ops.get(method)
                if op is not None and _no_route(client, method, template):
                    missing.append(f"{op['operationId']} {method.upper()} {template}")
    total = sum(1 for ops in spec["paths"].values() for m in _METHODS if m in ops)
    print(f"\n{total - len(missing)} of {total} reference operations are routed; missing:")
    for line in missing:
        print("  ", line)
    assert total == 188
    assert missing == []
