"""How a parallel run (pytest-xdist: `-n 2 --dist loadscope` in pyproject's addopts) shares
the tests out among workers.

Most of the suite's time goes to the server processes tests start (about two seconds of CPU
each) and to waiting on them, so one process leaves a core idle. The unit of work handed to a
worker is a whole test module, or a named group of modules:

- A module runs on one worker, so a module-scoped server starts once rather than once per
  worker, and its tests run in their written order, as they do without xdist.
- The modules of a group in GROUPS run on one worker, one after another.

Units holding a `slow` test start first, so no long test is left running alone at the end.

Groups are named here by path rather than by `xdist_group` marks: the controller sees only
node ids, and with pytest 9.2 xdist's loadgroup no longer gets the mark into them
(pytest-xdist issue 1386), so marked tests would silently be spread over workers.
"""

from __future__ import annotations

import pytest
from xdist.remote import Producer
from xdist.scheduler import LoadScopeScheduling

# Module paths (prefixes, relative to the repository) that must never run beside each other.
GROUPS: dict[str, tuple[str, ...]] = {
    # Several server instances on the one local PostgreSQL server: two such clusters at once
    # could exhaust its max_connections (each instance pools up to 16), and the cross-instance
    # timing bounds in these tests assume no second cluster competes with them.
    "postgres": ("tests/pg/", "tests/mcp_tests/test_mcp_pg.py"),
}


def unit(nodeid: str) -> str:
    """The unit of work a test belongs to: its group, or else its module."""
    module = nodeid.split("::", 1)[0]
    for group, prefixes in GROUPS.items():
        if module.startswith(prefixes):
            return group
    return module


class ModuleScheduling(LoadScopeScheduling):
    """xdist's loadscope (whole modules to one worker), with GROUPS kept together too."""

    def _split_scope(self, nodeid: str) -> str:
        return unit(nodeid)


@pytest.hookimpl(tryfirst=True, optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Producer) -> ModuleScheduling | None:
    if config.getvalue("dist") != "loadscope":
        return None
    # Units are queued in collection order, which order_for_workers set, instead of sorted by
    # how many tests they hold: a module of one forty-second test must not come last.
    config.option.loadscopereorder = False
    return ModuleScheduling(config, log)


def order_for_workers(items: list[pytest.Item]) -> None:
    """Put the units holding a `slow` test first, each unit's tests together and in order."""
    heavy = {unit(item.nodeid) for item in items if item.get_closest_marker("slow") is not None}
    first_seen: dict[str, int] = {}
    for index, item in enumerate(items):
        first_seen.setdefault(unit(item.nodeid), index)
    items.sort(key=lambda item: (unit(item.nodeid) not in heavy, first_seen[unit(item.nodeid)]))
