"""The description a benchmark's result file carries: its docstring's first sentence, whole."""

from __future__ import annotations

import ast
from pathlib import Path

from bench._common import summary_sentence

ROOT = Path(__file__).resolve().parents[2]


def test_the_summary_is_the_first_sentence_with_its_line_breaks_joined() -> None:
    doc = """The README's main job, timed: `python -m tuner` then export,
    from an empty folder. Prints wall time.

    More text."""
    assert summary_sentence(doc) == "The README's main job, timed: `python -m tuner` then export, from an empty folder."


def test_a_summary_without_a_full_stop_is_its_first_paragraph_and_no_docstring_gives_none() -> None:
    assert summary_sentence("Per-trial cost of a model\nover the bare file\n\nDetails.") == (
        "Per-trial cost of a model over the bare file")
    assert summary_sentence(None) is None
    assert summary_sentence("  \n ") is None


def test_a_dotted_name_inside_the_sentence_does_not_end_it() -> None:
    assert summary_sentence("Writes bench/results/x.json and docs/benchmarks.md. Then stops.") == (
        "Writes bench/results/x.json and docs/benchmarks.md.")


def test_the_default_runs_result_files_get_its_whole_first_sentence() -> None:
    doc = ast.get_docstring(ast.parse((ROOT / "bench" / "default_run.py").read_text()))
    assert summary_sentence(doc).endswith("from an empty folder, as a user runs them.")
