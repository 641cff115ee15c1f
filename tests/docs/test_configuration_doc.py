"""The hyperparameter table of docs/configuration.md says what ``HYPERPARAMETERS`` says: one row per
hyperparameter, with its type, its choices or range, whether it is CNN-only and its default."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tuner.models.hyperparameters import HYPERPARAMETERS, Hyperparameter

PAGE = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"
HEADER = "| name | type | allowed values | CNN only | default | what it does |"
NONE = "–"


def table_rows(text: str) -> dict[str, dict[str, str]]:
    """The hyperparameter table's rows by name (backticks stripped), each a mapping of column to cell."""
    lines = text.splitlines()
    assert HEADER in lines, f"docs/configuration.md has no hyperparameter table headed {HEADER!r}"
    start = lines.index(HEADER) + 2  # past the header and the --- row
    columns = [c.strip() for c in HEADER.strip("|").split("|")]
    rows: dict[str, dict[str, str]] = {}
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        cells = dict(zip(columns, (c.strip() for c in line.strip().strip("|").split("|"))))
        name = cells["name"].strip("`")
        assert name not in rows, f"{name} has two rows"
        rows[name] = cells
    return rows


def written(value: Any) -> str:
    """A value as the table writes it: YAML's spelling of booleans, Python's of numbers."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def allowed(hp: Hyperparameter) -> str:
    """What the 'allowed values' cell must say: the choices, or the range."""
    if hp.choices:
        return ", ".join(f"`{written(c)}`" for c in hp.choices)
    if hp.high is None:
        return f"≥ {hp.low}"
    return f"{hp.low} to {hp.high}"


ROWS = table_rows(PAGE.read_text())


def test_every_hyperparameter_has_a_row_and_every_row_a_hyperparameter() -> None:
    assert sorted(set(HYPERPARAMETERS) - set(ROWS)) == [], "hyperparameters in the code without a row"
    assert sorted(set(ROWS) - set(HYPERPARAMETERS)) == [], "rows that name no hyperparameter of the code"


@pytest.mark.parametrize("name", sorted(HYPERPARAMETERS))
def test_a_row_gives_the_codes_type_values_scope_and_default(name: str) -> None:
    hp, row = HYPERPARAMETERS[name], ROWS.get(name)
    if row is None:
        pytest.skip("no row: the test above fails")
    assert row["type"] == hp.kind.__name__
    assert row["allowed values"] == allowed(hp)
    assert row["CNN only"] == ("yes" if hp.cnn_only else "")
    assert row["default"] == (NONE if hp.default is None else f"`{written(hp.default)}`")
    assert row["what it does"], "say what it does"


def test_the_table_reader_notices_a_missing_or_an_extra_row() -> None:
    text = PAGE.read_text()
    assert "pool_last" not in table_rows(re.sub(r"\n\| `pool_last` \|[^\n]*", "", text))
    extra = text.replace(HEADER + "\n| --- | --- | --- | --- | --- | --- |",
                         HEADER + "\n| --- | --- | --- | --- | --- | --- |\n| `no_such` | int | ≥ 1 | | – | nothing |")
    assert "no_such" in table_rows(extra)
