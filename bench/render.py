"""Render the result tables of docs/benchmarks.md from the JSON files in bench/results/.

    python -m bench.render            # rewrite the generated blocks of docs/benchmarks.md
    python -m bench.render --check    # change nothing; exit 1 if the page is not what the files render

A generated block sits between two HTML comments, which a code host does not show:

    <!-- results:begin PATTERN [PATTERN ...] -->
    (generated: do not edit)
    <!-- results:end -->

Each PATTERN is a glob over the names of the files in bench/results/ without ``.json``, e.g.
``default_run-*``, optionally followed by ``@figure=value`` or ``@figure!=value``, which keeps only
the files whose top-level figure has (or has not) that value, e.g. ``train_speed-*@mode=backends``
(a file without the figure has not). The files render in the order of the patterns, each pattern's
files sorted by name (a file that two patterns match renders once). Everything outside the blocks is
hand-written.
The renderer reads only JSON: it imports neither tuner nor TensorFlow.

Example::

    records = load_results(RESULTS)
    page = render_page(PAGE.read_text(), records)
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
PAGE = ROOT / "docs" / "benchmarks.md"
LINK_PREFIX = "../bench/results/"  # from docs/ to the result files
BLOCK = re.compile(r"(<!-- results:begin (?P<patterns>[^>]*?) -->\n)(?P<body>.*?)(<!-- results:end -->)", re.S)
MISSING = "–"
# a column of accuracies (all floats in [0, 1]) is written with the same number of decimals throughout
ACCURACY_WORDS = {"accuracy", "val", "test", "best", "worth", "mirror", "score"}
NOT_ACCURACY_WORDS = {"difference", "se", "sd", "points", "pct"}
UNITS = {"s": "(s)", "ms": "(ms)", "min": "(min)", "mib": "(MiB)", "mb": "(MB)", "gib": "(GiB)", "pct": "(%)",
         "points": "(points)"}


def load_results(folder: Path = RESULTS) -> dict[str, dict[str, Any]]:
    """Every ``*.json`` in ``folder``, by file name without the suffix."""
    return {path.stem: json.loads(path.read_text()) for path in sorted(folder.glob("*.json"))}


def selects(pattern: str, name: str, record: dict[str, Any]) -> bool:
    """Whether ``pattern`` (a glob, optionally ``@figure=value`` or ``@figure!=value``) matches this record."""
    glob, _, condition = pattern.partition("@")
    if not fnmatch.fnmatchcase(name, glob):
        return False
    if not condition:
        return True
    negated = "!=" in condition
    figure, _, wanted = condition.partition("!=" if negated else "=")
    if not figure or not wanted or "=" not in condition:
        raise ValueError(f"pattern {pattern!r}: after @ write figure=value or figure!=value")
    value = (record.get("figures") or {}).get(figure)
    return (value is not None and str(value) == wanted) != negated


def matching(patterns: list[str], records: dict[str, dict[str, Any]]) -> list[str]:
    """The names of the records that the patterns match, in the patterns' order, each once."""
    names: list[str] = []
    for pattern in patterns:
        names += [n for n in sorted(records) if selects(pattern, n, records[n]) and n not in names]
    return names


def label(key: str) -> str:
    """``first_decode_s`` -> ``first decode (s)``: a figure's key as a column or row label; a rate keeps its
    unit as a word (``images_per_s``, ``images_per_cpu_s`` -> ``images per cpu s``)."""
    words = key.split("_")
    if len(words) > 1 and words[-1] in UNITS and "per" not in words[-3:-1]:
        words[-1] = UNITS[words[-1]]
    return " ".join(words)


def cell(value: Any) -> str:
    """One value as table text: numbers as written in the file, a run of whole numbers as a range."""
    if value is None:
        return MISSING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}" if abs(value) >= 1000 else str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, list):
        if len(value) > 2 and all(isinstance(v, int) and not isinstance(v, bool) for v in value) \
                and value == list(range(value[0], value[0] + len(value))):
            return f"{value[0]}–{value[-1]}"
        return ", ".join(cell(v) for v in value)
    return str(value).replace("|", "\\|").replace("\n", " ")


def _decimals(value: float) -> int:
    text = repr(value)
    return len(text.split(".")[1]) if "." in text and "e" not in text else 0


def column(key: str, values: list[Any]) -> list[str]:
    """A table column's cells; a column of accuracies gets the decimals of its most precise value."""
    words = set(re.split(r"[_.]", key))
    numbers = [v for v in values if v is not None]
    if (words & ACCURACY_WORDS and not words & NOT_ACCURACY_WORDS and numbers
            and all(isinstance(v, float) and 0.0 <= v <= 1.0 for v in numbers)):
        places = max(_decimals(v) for v in numbers)
        return [MISSING if v is None else f"{v:.{places}f}" for v in values]
    return [cell(v) for v in values]


def _flat(figures: dict[str, Any]) -> list[tuple[str, Any]]:
    """The scalar figures as (label, value), a nested object's as ``parent: `key```; lists of objects are left out."""
    rows: list[tuple[str, Any]] = []
    for key, value in figures.items():
        if isinstance(value, dict):
            rows += [(f"{label(key)}: `{inner}`", item) for inner, item in value.items()
                     if not isinstance(item, dict) and not _is_table(item)]
        elif not _is_table(value):
            rows.append((label(key), value))
    return rows


def _is_table(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def _machine(machine: dict[str, Any]) -> str:
    parts = []
    if machine.get("gpu"):
        parts.append(str(machine["gpu"]))
    if machine.get("cores"):
        parts.append(f"{machine['cores']} cores" + (f" ({machine['cpu']})" if machine.get("cpu") else ""))
    if machine.get("ram_gib"):
        parts.append(f"{machine['ram_gib']} GiB RAM")
    if machine.get("load_1min") is not None:
        parts.append(f"load {machine['load_1min']}")
    if machine.get("conditions"):
        parts.append(str(machine["conditions"]))
    return ", ".join(parts) or "machine not recorded"


def render_record(name: str, record: dict[str, Any], link_prefix: str = LINK_PREFIX) -> str:
    """One result file: what ran, where and when, the command, its figures as tables, and its notes."""
    commit = record.get("commit")
    what = str(record.get("description") or record["name"])
    lead = [f"**{what[:1].upper()}{what[1:]}**", "",
            f"{record['date']} · {_machine(record.get('machine') or {})} · "
            + (f"commit `{commit[:7]}`" if commit else "commit not recorded")
            + (" · transcribed from the old README" if str(record.get("source", "")).startswith("transcribed") else "")
            + f" · [`{name}.json`]({link_prefix}{name}.json)", ""]
    if record.get("date_note"):
        lead += [f"Date: {record['date_note']}.", ""]
    lead += ["```bash", record["command"], "```", ""]
    if record.get("command_note"):
        note = str(record["command_note"])
        lead += [f"Command: {note[:1].upper()}{note[1:]}.", ""]
    figures = record["figures"]
    scalars = _flat(figures)
    if scalars:
        lead += table(["figure", "value"], [[k, cell(v)] for k, v in scalars]) + [""]
    for key, value in figures.items():
        if _is_table(value):
            columns = list(dict.fromkeys(k for row in value for k in row))
            lead += [f"*{label(key)}*", ""]
            cells = [column(c, [row.get(c) for row in value]) for c in columns]
            lead += table([label(c) for c in columns], [list(row) for row in zip(*cells)]) + [""]
    if record.get("notes"):
        lead += [record["notes"], ""]
    return "\n".join(lead)


def render_block(patterns: list[str], records: dict[str, dict[str, Any]], link_prefix: str = LINK_PREFIX) -> str:
    names = matching(patterns, records)
    if not names:
        return "_No result file yet._\n\n"
    return "\n".join(render_record(n, records[n], link_prefix) for n in names) + "\n"


def render_page(text: str, records: dict[str, dict[str, Any]], link_prefix: str = LINK_PREFIX) -> str:
    """``text`` with every generated block rendered again from ``records``."""
    return BLOCK.sub(lambda m: m.group(1) + "\n" + render_block(m.group("patterns").split(), records, link_prefix)
                     + m.group(4), text)


def block_patterns(text: str) -> list[list[str]]:
    """The patterns of every generated block of ``text``, block by block."""
    return [m.group("patterns").split() for m in BLOCK.finditer(text)]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.render", description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if the page is out of date")
    parser.add_argument("--page", type=Path, default=PAGE)
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    records = load_results(args.results)
    text = args.page.read_text()
    page = render_page(text, records)
    covered = {n for patterns in block_patterns(text) for n in matching(patterns, records)}
    unplaced = sorted(set(records) - covered)
    if unplaced:
        print(f"no block of {args.page} matches: {', '.join(unplaced)}; add a pattern for them", file=sys.stderr)
    if args.check:
        if page != text:
            print(f"{args.page} is out of date: run python -m bench.render", file=sys.stderr)
        return int(page != text or bool(unplaced))
    if page != text:
        args.page.write_text(page)
        print(f"rendered {len(covered)} result files into {args.page}")
    return int(bool(unplaced))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
