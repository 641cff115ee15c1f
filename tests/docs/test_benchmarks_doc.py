"""docs/benchmarks.md is what ``python -m bench.render`` makes of bench/results/*.json, and every figure
in its hand-written text, or in the README's results summary, is one that a result file holds."""

from __future__ import annotations

import difflib
import json
import re
from pathlib import Path
from typing import Any, Iterator

import pytest
from bench.render import BLOCK, LINK_PREFIX, block_patterns, load_results, matching, render_page

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "results"
PAGE = ROOT / "docs" / "benchmarks.md"
README = ROOT / "README.md"
SUMMARY = re.compile(r"<!-- results-summary:begin -->\n(?P<body>.*?)<!-- results-summary:end -->", re.S)
SUMMARY_LINES = 10
LONGEST_CELL = 120  # characters; the old README's cells ran to 1,700
REQUIRED = ("name", "date", "commit", "machine", "command", "figures")
TRANSCRIBED = re.compile(r"transcribed from README\.md at commit [0-9a-f]{40}$")
NUMBER = re.compile(r"(?<![\w.])\d+(?:,\d{3})*(?:\.\d+)?")
NOT_FIGURES = [re.compile(p, re.S) for p in (r"```.*?```", r"`[^`\n]*`", r"<!--.*?-->", r"\]\([^)]*\)")]


def numbers(text: str) -> set[float]:
    """The numbers written in ``text`` (thousands separators dropped, signs ignored)."""
    return {float(n.replace(",", "")) for n in NUMBER.findall(text)}


def figures_in(value: Any) -> Iterator[float]:
    """Every number a result file holds, in its values and keys, and inside its strings."""
    if isinstance(value, bool):
        return
    if isinstance(value, (int, float)):
        yield abs(float(value))
    elif isinstance(value, str):
        yield from numbers(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from numbers(key)
            yield from figures_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from figures_in(item)


def prose(text: str) -> str:
    """``text`` without its generated blocks, code, comments and link targets: what a person wrote."""
    text = BLOCK.sub("", text)
    for pattern in NOT_FIGURES:
        text = pattern.sub(" ", text)
    return text


def test_the_page_is_what_the_result_files_render() -> None:
    text = PAGE.read_text()
    rendered = render_page(text, load_results(RESULTS))
    diff = "".join(list(difflib.unified_diff(text.splitlines(True), rendered.splitlines(True), "docs/benchmarks.md",
                                             "rendered from bench/results"))[:60])
    assert rendered == text, f"a table was edited by hand or is stale: run python -m bench.render\n{diff}"


def test_every_result_file_is_on_the_page() -> None:
    records = load_results(RESULTS)
    covered = {n for patterns in block_patterns(PAGE.read_text()) for n in matching(patterns, records)}
    assert records and sorted(set(records) - covered) == []


@pytest.mark.parametrize("path", sorted(RESULTS.glob("*.json")), ids=lambda p: p.stem)
def test_every_result_file_says_when_where_and_how_it_ran(path: Path) -> None:
    record = json.loads(path.read_text())
    assert [k for k in REQUIRED if k not in record] == []
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", record["date"])
    assert path.stem.startswith(f"{record['name']}-{record['date']}")
    assert record["commit"] is None or re.fullmatch(r"[0-9a-f]{40}", record["commit"])
    assert "cores" in record["machine"] and record["command"] and record["figures"]
    if "source" in record:  # a file copied from the old README, not a new run
        assert TRANSCRIBED.match(record["source"])
        assert record["commit"] or record.get("commit_note"), "say why the commit is unknown"


def test_a_figure_edited_by_hand_or_a_new_result_file_makes_the_page_stale(tmp_path: Path) -> None:
    record = {"name": "overhead", "date": "2026-12-01", "commit": None, "machine": {"cores": 2},
              "command": ".venv/bin/python bench/overhead.py 5 10", "figures": {"overhead_ratio": 1.044}}
    records = {"overhead-2026-12-01": record}
    page = render_page("# B\n\n<!-- results:begin overhead-* -->\n<!-- results:end -->\n", records)
    assert "| overhead ratio | 1.044 |" in page and f"{LINK_PREFIX}overhead-2026-12-01.json" in page
    assert render_page(page, records) == page
    assert render_page(page.replace("1.044", "1.01"), records) == page
    later = {**records, "overhead-2026-12-02": {**record, "date": "2026-12-02", "figures": {"overhead_ratio": 1.02}}}
    assert render_page(page, later) != page


def test_the_page_text_quotes_only_figures_from_result_files() -> None:
    held = {f for record in load_results(RESULTS).values() for f in figures_in(record)}
    assert sorted(numbers(prose(PAGE.read_text())) - held) == []


def test_no_table_cell_of_the_page_is_long() -> None:
    cells = [c.strip() for line in PAGE.read_text().splitlines() if line.startswith("|") for c in line.split("|")]
    assert [c for c in cells if len(c) > LONGEST_CELL] == []


def test_the_readme_summary_is_short_and_quotes_only_the_files_it_links() -> None:
    found = SUMMARY.search(README.read_text())
    assert found, "README.md has no <!-- results-summary:begin --> ... <!-- results-summary:end --> block"
    body = found.group("body")
    assert len([line for line in body.splitlines() if line.strip()]) <= SUMMARY_LINES
    for item in re.split(r"\n(?=- )", body.strip()):
        linked = re.findall(r"\]\((bench/results/[^)]+\.json)\)", item)
        quoted = numbers(prose(item))
        assert linked or not quoted, f"README summary: figures without a result file: {item!r}"
        held = {f for path in linked for f in figures_in(json.loads((ROOT / path).read_text()))}
        assert sorted(quoted - held) == [], f"README summary: figures in no linked file: {item!r}"
