"""OpenCode id format: prefix, 12 hex digits of time and counter, 14 base-62 characters."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from pyopencode import ids

FORMAT = re.compile(r"^(ses|msg|prt|evt)_[0-9a-f]{12}[0-9A-Za-z]{14}$")
# Upstream keeps the low 48 bits of ms * 4096; stay inside one wrap window.
BASE_MS = 1_795_480_000_000


def test_format_matches_upstream() -> None:
    for make, prefix in ((ids.ascending, "msg"), (ids.descending, "ses"), (ids.ascending, "prt")):
        value = make(prefix)  # type: ignore[operator]
        assert FORMAT.match(value), value


def test_upstream_example_decodes_as_descending() -> None:
    # A session id upstream 1.18.33 produced at 1795480020510 ms.
    upstream = "ses_df50d19e1ffeH8dhrelGYSad1k"
    made_ms = 1795480020510
    ours = ids.descending("ses", made_ms)
    assert FORMAT.match(ours), ours
    # The first 9 hex digits are the inverted millisecond; the last 3 the inverted counter.
    assert ours[4:13] == upstream[4:13]
    # Mixed with upstream's ids, ours still list newest first.
    newer, older = ids.descending("ses", made_ms + 1), ids.descending("ses", made_ms - 1)
    assert sorted([older, upstream, newer]) == [newer, upstream, older]
    assert ids.ascending("msg", made_ms)[4:13] == f"{made_ms * 0x1000 & ((1 << 48) - 1):012x}"[:9]


@given(st.lists(st.integers(min_value=0, max_value=10_000), min_size=2, max_size=50))
def test_ascending_sorts_by_creation(offsets: list[int]) -> None:
    made = [ids.ascending("msg", BASE_MS + o) for o in sorted(offsets)]
    assert made == sorted(made)


@given(st.lists(st.integers(min_value=0, max_value=10_000), min_size=2, max_size=50))
def test_descending_sorts_newest_first(offsets: list[int]) -> None:
    made = [ids.descending("ses", BASE_MS + o) for o in sorted(offsets)]
    assert made == sorted(made, reverse=True)


def test_same_millisecond_ids_are_distinct_and_ordered() -> None:
    made = [ids.ascending("prt", BASE_MS) for _ in range(1000)]
    assert len(set(made)) == 1000
    assert made == sorted(made)
