"""The split of a parallel run (tests/parallel.py): groups name real tests and hold together."""

from __future__ import annotations

from pathlib import Path

from tests.parallel import GROUPS, unit

ROOT = Path(__file__).resolve().parents[2]


def test_every_group_names_tests_that_exist() -> None:
    # A renamed file would otherwise leave its group silently, to run beside the others.
    for group, prefixes in GROUPS.items():
        for prefix in prefixes:
            assert (ROOT / prefix).exists(), f"{group}: {prefix} does not exist"


def test_a_test_belongs_to_its_group_or_else_its_module() -> None:
    assert unit("tests/pg/test_pg_agent.py::test_x[a::b]") == "postgres"
    assert unit("tests/mcp_tests/test_mcp_pg.py::test_y") == "postgres"
    assert unit("tests/mcp_tests/test_mcp_tools.py::test_z") == "tests/mcp_tests/test_mcp_tools.py"
    assert unit("tests/e2e/test_churn.py::Cls::test_w") == "tests/e2e/test_churn.py"
