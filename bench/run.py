"""`pyopencode bench` from a checkout, writing to bench/results/ unless --out is given."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

# Benchmark the checkout this script lives in, installed or not.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from pyopencode.cli import main

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def run(argv: list[str]) -> int:
    """Same options as `pyopencode bench --help`; the default --out is bench/results/DATE.json."""
    if not any(a == "--out" or a.startswith("--out=") for a in argv):
        argv = [
            *argv,
            "--out",
            str(RESULTS_DIR / f"{dt.datetime.now(dt.UTC):%Y-%m-%dT%H%M%SZ}.json"),
        ]
    return main(["bench", *argv])


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
