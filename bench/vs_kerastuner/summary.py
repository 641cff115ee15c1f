"""The statistics of a pre-registered race (bench/vs_kerastuner/PROTOCOL.md), from its ``--json`` files.

    .venv/bin/python -m bench.vs_kerastuner.summary --minutes 10 bench/results/race23/fashion-seed*.json [--save]

Per task: each seed's best val and test accuracy per tool; each tool's means and the seeds it led
(the highest best val of the tools that ran that seed, ties counting for each); for tuner against
each other tool, the seeds tuner was strictly ahead on, the mean difference in points and the
two-sided Wilcoxon signed-rank p-value (``scipy.stats.wilcoxon`` on the paired differences, seeds
where both ran); and the issue's targets against RandomSearch. A tool that completed no trial on a
seed (``best_val`` null) scores 0 there: it delivered no model. ``--save`` also writes the figures
with ``save_results`` (bench/results/vs_kerastuner_summary-<date>-<time>.json).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from pathlib import Path
from typing import Any

from scipy.stats import wilcoxon

from bench._common import save_results
from bench.render import table

KEYS = ("task", "seed", "tool", "complete", "pruned", "epochs", "best_val", "test", "seconds_to")
TOOLS = ("tuner", "random", "hyperband")
BASELINE = "random"  # the targets are against RandomSearch
TARGET_POINTS = 1.0  # mean val at least this many points above the baseline
TARGET_AHEAD_SHARE = 0.75  # ahead of the baseline on at least this share of the seeds (9 of 12)
TARGET_TIME_SHARE = 0.5  # tuner's time to the baseline's final best, over the baseline's own time to it (median)


def load_rows(paths: list[Path]) -> list[dict[str, Any]]:
    """Every row of the ``--json`` files, checked: a list of objects with the race's keys, each task, seed and
    tool once over all files."""
    rows: list[dict[str, Any]] = []
    seen: dict[tuple, Path] = {}
    for path in paths:
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as error:
            raise ValueError(f"{path}: not a readable JSON file ({error}); give the files that "
                             "python -m bench.vs_kerastuner --json FILE wrote") from error
        if not isinstance(data, list) or not all(isinstance(row, dict) for row in data):
            raise ValueError(f"{path}: expected a JSON list of objects, as bench.vs_kerastuner --json writes")
        for i, row in enumerate(data):
            missing = [k for k in KEYS if k not in row]
            if missing or row["tool"] not in TOOLS:
                raise ValueError(f"{path}, row {i}: " + (f"missing {', '.join(missing)}" if missing else
                                 f"tool {row['tool']!r} is not one of {', '.join(TOOLS)}")
                                 + "; give the files that python -m bench.vs_kerastuner --json FILE wrote")
            key = (row["task"], row["seed"], row["tool"])
            if key in seen:
                raise ValueError(f"{path}: task {key[0]}, seed {key[1]}, tool {key[2]} is already in {seen[key]}; "
                                 "give each race's file once")
            seen[key] = path
            rows.append(row)
    return rows


def _score(row: dict[str, Any] | None, key: str) -> float | None:
    """``row[key]``, 0.0 where the tool completed no trial; None where the tool did not run."""
    return None if row is None else float(row[key] or 0.0)


def _round(x: float | None, digits: int = 4) -> float | None:
    return None if x is None else round(x, digits)


def wilcoxon_p(differences: list[float]) -> float | None:
    """The two-sided Wilcoxon signed-rank p-value of paired ``differences`` (None: no seed differed)."""
    rounded = [round(d, 6) for d in differences]  # 0.9 - 0.89 and 0.91 - 0.90 are one rank, not two
    if not any(rounded):
        return None
    return float(wilcoxon(rounded, zero_method="wilcox", alternative="two-sided", method="auto").pvalue)


def task_statistics(task: str, rows: list[dict[str, Any]], budget_s: float) -> dict[str, list[dict[str, Any]]]:
    """The tables of one task: per seed, per tool, tuner against each other tool, and the targets."""
    by_seed: dict[Any, dict[str, dict[str, Any]]] = {}
    for row in rows:
        by_seed.setdefault(row["seed"], {})[row["tool"]] = row
    seeds = sorted(by_seed)
    tools = [t for t in TOOLS if any(t in by_seed[s] for s in seeds)]
    per_seed = [{"task": task, "seed": s,
                 **{f"{t}_{k}": _score(by_seed[s].get(t), key) for k, key in (("val", "best_val"), ("test", "test"))
                    for t in tools},
                 **{f"tuner_s_to_{t}": by_seed[s]["tuner"]["seconds_to"].get(t) if "tuner" in by_seed[s] else None
                    for t in tools if t != "tuner"}} for s in seeds]
    per_tool = []
    for tool in tools:
        ran = [s for s in seeds if tool in by_seed[s]]
        vals = [_score(by_seed[s][tool], "best_val") for s in ran]
        led = sum(v >= max(_score(r, "best_val") for r in by_seed[s].values()) for s, v in zip(ran, vals))
        per_tool.append({"task": task, "tool": tool, "seeds": len(ran), "mean_val": _round(statistics.mean(vals)),
                         "mean_test": _round(statistics.mean(_score(by_seed[s][tool], "test") for s in ran)),
                         "led": led})
    versus = []
    for other in (t for t in tools if t != "tuner"):
        both = [s for s in seeds if {"tuner", other} <= set(by_seed[s])]
        if not both:
            continue
        pairs = {k: [_score(by_seed[s]["tuner"], k) - _score(by_seed[s][other], k) for s in both]
                 for k in ("best_val", "test")}
        reached = [by_seed[s]["tuner"]["seconds_to"].get(other) for s in both]
        median_s = statistics.median(math.inf if r is None else r for r in reached)
        shares = [time_share(by_seed[s]["tuner"]["seconds_to"].get(other), by_seed[s][other]["seconds_to"].get(other))
                  for s in both]
        versus.append({"task": task, "against": other, "seeds": len(both),
                       "tuner_ahead": sum(d > 0 for d in pairs["best_val"]),
                       "mean_val_points": _round(100 * statistics.mean(pairs["best_val"]), 2),
                       "mean_test_points": _round(100 * statistics.mean(pairs["test"]), 2),
                       "wilcoxon_p_val": _round(wilcoxon_p(pairs["best_val"])),
                       "wilcoxon_p_test": _round(wilcoxon_p(pairs["test"])),
                       "tuner_median_s_to_final_best": None if math.isinf(median_s) else round(median_s, 1),
                       "tuner_median_time_share": _finite(statistics.median(shares))})
    return {"per_seed": per_seed, "tools": per_tool, "versus": versus,
            "targets": targets(task, next((v for v in versus if v["against"] == BASELINE), None), budget_s)}


def time_share(tuner_s: float | None, own_s: float | None) -> float:
    """Tuner's seconds to a tool's final best over that tool's own seconds to it; inf where tuner never reached
    it or the tool's own time is unknown (a seed that cannot show the target met)."""
    if tuner_s is None or not own_s:
        return 0.0 if tuner_s == 0 else math.inf
    return tuner_s / own_s


def _finite(x: float) -> float | None:
    return None if math.isinf(x) else round(x, 3)


def targets(task: str, baseline: dict[str, Any] | None, budget_s: float) -> list[dict[str, Any]]:
    """The issue's targets against RandomSearch: mean val, seeds ahead, median time to its final best."""
    if baseline is None:
        return []
    n, share = baseline["seeds"], baseline["tuner_median_time_share"]
    ahead_needed = math.ceil(TARGET_AHEAD_SHARE * n)
    return [
        {"task": task, "target": f"mean val points above {BASELINE}", "value": baseline["mean_val_points"],
         "needed": f">= {TARGET_POINTS}", "met": baseline["mean_val_points"] >= TARGET_POINTS},
        {"task": task, "target": f"seeds ahead of {BASELINE}", "value": f"{baseline['tuner_ahead']} of {n}",
         "needed": f">= {ahead_needed} of {n}", "met": baseline["tuner_ahead"] >= ahead_needed},
        {"task": task, "target": f"median time to {BASELINE}'s final best, as a share of its own",
         "value": share, "needed": f"<= {TARGET_TIME_SHARE:g}", "met": share is not None and share <= TARGET_TIME_SHARE},
    ]


def summarise(rows: list[dict[str, Any]], minutes: float) -> dict[str, Any]:
    """Every task's tables, concatenated: the figures that ``--save`` writes."""
    figures: dict[str, Any] = {"minutes": minutes, "seeds": sorted({r["seed"] for r in rows})}
    for task in dict.fromkeys(r["task"] for r in rows):
        for name, part in task_statistics(task, [r for r in rows if r["task"] == task], minutes * 60).items():
            figures.setdefault(name, []).extend(part)
    return figures


def as_text(figures: dict[str, Any]) -> str:
    """The tables as Markdown, each under its name."""
    parts = []
    for name, value in figures.items():
        if isinstance(value, list) and value and isinstance(value[0], dict):
            header = list(dict.fromkeys(k for row in value for k in row))
            cells = [["-" if row.get(k) is None else str(row.get(k)) for k in header] for row in value]
            parts.append(f"{name}\n" + "\n".join(table(header, cells)))
    return "\n\n".join(parts)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.vs_kerastuner.summary", description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, required=True, help="the race's budget per tool (its --minutes)")
    parser.add_argument("--save", action="store_true", help="also write the figures to bench/results")
    parser.add_argument("files", nargs="+", type=Path, help="the --json files of the race's seeds")
    args = parser.parse_args(argv)
    if args.minutes <= 0:
        parser.error("--minutes must be > 0: the race's own --minutes")
    try:
        rows = load_rows(args.files)
    except ValueError as error:
        parser.error(str(error))
    figures = summarise(rows, args.minutes)
    print(as_text(figures))
    if args.save:
        save_results("vs_kerastuner_summary", figures, notes=f"from {', '.join(str(p) for p in args.files)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
