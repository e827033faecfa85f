"""Where the reference OpenAPI document lives: `../shared` beside the repository clone.

Tests that validate against it call `require_spec()` at import time. Without the document they
are skipped with a visible reason, except under `CI=true`, where `../shared` is always checked
out and a missing document is a failure, never a silent skip.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SPEC_PATH = (
    Path(__file__).resolve().parents[1].parent
    / "shared"
    / "reference"
    / "opencode-1.18.33.openapi.json"
)


def require_spec() -> None:
    """Skip the calling test module if SPEC_PATH is missing; fail instead when CI=true."""
    if SPEC_PATH.is_file():
        return
    reason = f"reference spec not found at {SPEC_PATH}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: ../shared must be cloned beside the repository)")
    pytest.skip(reason, allow_module_level=True)
