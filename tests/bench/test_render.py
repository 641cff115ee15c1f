"""bench/render.py's patterns: a glob over the result files' names, optionally narrowed by a figure's value."""

from __future__ import annotations

import pytest
from bench.render import matching, render_page

RECORDS = {name: {"name": "train_speed", "date": "2026-12-01", "commit": None, "machine": {"cores": 2},
                  "command": f"bench/train_speed.py {mode}", "figures": {"mode": mode} if mode else {"batches": 3}}
           for name, mode in [("train_speed-2026-12-01-101010", "backends"), ("train_speed-2026-11-26-jit", "jit"),
                              ("train_speed-2026-11-26-old", None), ("overhead-2026-11-23", "backends")]}


def test_a_figure_condition_keeps_the_files_that_have_that_value_or_have_not() -> None:
    assert matching(["train_speed-*@mode=backends"], RECORDS) == ["train_speed-2026-12-01-101010"]
    # a file without the figure has not the value: it stays with the rest
    assert matching(["train_speed-*@mode!=backends"], RECORDS) == ["train_speed-2026-11-26-jit",
                                                                   "train_speed-2026-11-26-old"]
    assert matching(["train_speed-*"], RECORDS) == sorted(n for n in RECORDS if n.startswith("train_speed"))


def test_two_blocks_split_one_benchmarks_files_by_mode() -> None:
    page = ("<!-- results:begin train_speed-*@mode!=backends -->\n<!-- results:end -->\n"
            "## Per backend\n\n<!-- results:begin train_speed-*@mode=backends -->\n<!-- results:end -->\n")
    first, second = render_page(page, RECORDS).split("## Per backend")
    assert "train_speed-2026-11-26-jit.json" in first and "train_speed-2026-12-01-101010.json" not in first
    assert "train_speed-2026-12-01-101010.json" in second and "train_speed-2026-11-26-jit.json" not in second


@pytest.mark.parametrize("pattern", ["train_speed-*@mode", "train_speed-*@=backends", "train_speed-*@mode!="])
def test_a_condition_that_is_not_figure_equals_value_is_refused(pattern: str) -> None:
    with pytest.raises(ValueError, match="figure=value or figure!=value"):
        matching([pattern], RECORDS)
