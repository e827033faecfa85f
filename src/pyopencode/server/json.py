"""Fast JSON responses: orjson for built values, raw bytes for rows that already are JSON."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

_TRUE = b"true"


def json_response(value: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(value), status_code=status, media_type="application/json")


def raw_json(body: bytes, status: int = 200) -> Response:
    return Response(body, status_code=status, media_type="application/json")


def true_response() -> Response:
    return raw_json(_TRUE)
