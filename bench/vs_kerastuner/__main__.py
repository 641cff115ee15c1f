"""tuner against KerasTuner, side by side: the same space, data split and wall-clock budget per task.

    .venv/bin/python -m bench.vs_kerastuner --minutes 3 --tasks digits,fashion [override ...]
    .venv/bin/python -m bench.vs_kerastuner --tasks fashion --seeds 0 --json race.json fashion:sampler=random

A task is ``digits``/``fashion``/``cifar10`` (its ``<task>_cnn`` experiment) or an experiment
name. Overrides are tuner config overrides for every task (``search.space.epochs=5``) or, prefixed
``<task>:``, for one (``fashion:data.max_samples=10000``); the data and the space shape what both
tools see, the rest (``sampler=...``, ``pruner=...``, ``search.enqueue=[]``) only tuner's search.
Prints, per tool: trials (complete/pruned) and epochs that completed within the
budget, best validation accuracy (each trial scored by its best epoch, for both tools), the test
accuracy of its best model, and the seconds each took to first reach each other tool's final best.
The figures also go to bench/results/vs_kerastuner-<date>-<time>.json; ``--json FILE`` writes the
same per tool as a plain JSON list for scripts (``bench/vs_kerastuner/summary.py``), one object per
task, seed and tool: ``task, seed, tool`` (``tuner``, ``random``, ``hyperband``), ``complete, pruned,
epochs, best_val, test`` and ``seconds_to`` (seconds to reach each tool's final best val, its own included, by
tool name; null: never, or that tool completed no trial).
Needs ``pip install -e '.[bench]'`` (keras-tuner).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

# Level 3, as the other benchmarks: at tuner's level 2 every KerasTuner trial's fit printed TensorFlow's
# harmless C++ error "NodeDef mentions attribute use_unbounded_threadpool which is not in the op definition".
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import tuner  # noqa: F401,E402 - quiets TensorFlow before anything imports it
from bench._common import save_results  # noqa: E402
from bench.vs_kerastuner.race import TRIAL_LIMIT, Result, run_kerastuner, run_tuner, warm_up  # noqa: E402
from tuner.config import compose  # noqa: E402
from tuner.data import load_dataset  # noqa: E402
from tuner.search.space import parse_space  # noqa: E402
from tuner.training.device import activate  # noqa: E402

TOOLS = ("tuner", "hyperband", "random")


def task_overrides(tasks: list[str], overrides: list[str]) -> dict[str, list[str]]:
    """Split ``overrides`` per task: ``fashion:data.max_samples=1000`` only for fashion, the rest for all."""
    per_task: dict[str, list[str]] = {t: [] for t in tasks}
    for item in overrides:
        head, sep, rest = item.partition(":")
        if sep and head in per_task:
            per_task[head].append(rest)
        else:
            for t in tasks:
                per_task[t].append(item)
    return per_task


def experiment(task: str) -> str:
    return task if "_" in task else f"{task}_cnn"


def race(task: str, overrides: list[str], budget: float, tools: list[str], folder: Path) -> list[Result]:
    name = experiment(task)
    cfg = compose([f"+experiment={name}", f"name=vs_kt_{name}", f"experiments_dir={folder / 'experiments'}",
                   f"tracking.uri=sqlite:///{folder / 'mlflow.db'}", f"search.timeout={budget}",
                   f"search.n_trials={TRIAL_LIMIT}", "++search.space.restore_best=true", *overrides])
    space = parse_space(cfg.search.space)
    data = load_dataset(cfg.data, cfg.seed)
    activate(cfg.device)  # the same TensorFlow settings (op determinism, dtype policy) for every tool
    warm_up(space, data, int(cfg.seed))
    print(f"\n== {name}: {len(data.y_train)} train / {len(data.y_val)} validation / {len(data.y_test)} test images, "
          f"{budget:.0f} s per tool; sampler {cfg.sampler._target_.rsplit('.', 1)[-1]}, "
          f"pruner {cfg.pruner._target_.rsplit('.', 1)[-1]}", flush=True)
    results = []
    for tool in tools:
        if tool == "tuner":
            results.append(run_tuner(cfg, budget, data))
        else:
            results.append(run_kerastuner(tool, space, data, budget, folder / "kerastuner" / name, int(cfg.seed)))
        print(f"   {results[-1].tool} done in {results[-1].wall:.0f} s", flush=True)
    return results


def _fmt(x: float | None, digits: int = 4) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def report(results: list[Result]) -> str:
    """The figures of one task as a plain table, then each tool's time to reach each other's final best."""
    lines = [f"{'tool':<14}{'complete':>9}{'pruned':>7}{'epochs':>7}{'best val':>10}{'test acc':>10}{'wall s':>8}"]
    for r in results:
        lines.append(f"{r.tool:<14}{r.complete:>9}{r.pruned:>7}{r.epochs:>7}{_fmt(r.best_val):>10}"
                     f"{_fmt(r.test_accuracy):>10}{r.wall:>8.0f}" + (f"   ({r.note})" if r.note else ""))
    for r in results:
        for other in results:
            if other is r or other.best_val is None:
                continue
            reached = r.seconds_to(other.best_val)
            when = "never" if reached is None else f"after {reached:.0f} s"
            lines.append(f"{r.tool} reaches {other.tool}'s best val {other.best_val:.4f}: {when}")
    return "\n".join(lines)


def summary(runs: list[list[Result]]) -> str:
    """Each tool's mean best val and test accuracy over ``runs`` (one list of results per seed), and on how
    many seeds it had the best of each (a tie counts for every tool that shares it)."""
    tools = [r.tool for r in runs[0]]
    lines = [f"{'tool':<14}{'seeds':>6}{'mean val':>10}{'mean test':>10}{'best val on':>13}{'best test on':>14}"]
    for i, tool in enumerate(tools):
        cells = [(_mean([getattr(run[i], key) for run in runs]), _led(runs, i, key), width)
                 for key, width in (("best_val", 13), ("test_accuracy", 14))]
        lines.append(f"{tool:<14}{len(runs):>6}" + "".join(f"{_fmt(mean):>10}" for mean, _, _ in cells)
                     + "".join(f"{f'{led} of {len(runs)}':>{width}}" for _, led, width in cells))
    return "\n".join(lines)


def _mean(values: list[float | None]) -> float | None:
    """The mean, or None when any value is missing (a tool that completed no trial on some seed)."""
    return None if not values or any(v is None for v in values) else sum(values) / len(values)


def _led(runs: list[list[Result]], i: int, key: str) -> int:
    """On how many runs tool ``i``'s ``key`` (``best_val``, ``test_accuracy``) was the highest, ties included."""
    return sum(getattr(run[i], key) is not None and getattr(run[i], key) >= max(getattr(r, key) or 0.0 for r in run)
               for run in runs)


def figures(runs: dict[str, list[list[Result]]], seeds: list[int | None], minutes: float) -> dict:
    """What a race writes to bench/results: one row per task, seed and tool, then each tool's means."""
    rows = [{**_row(task, seed, r, r.tool), "wall_s": round(r.wall)}
            for task, per_seed in runs.items() for seed, results in zip(seeds, per_seed) for r in results]
    means = [{"task": experiment(task), "seeds": seeds, "tool": r.tool,
              "val": _rounded(_mean([run[i].best_val for run in per_seed])),
              "test": _rounded(_mean([run[i].test_accuracy for run in per_seed]))}
             for task, per_seed in runs.items() if len(per_seed) > 1 for i, r in enumerate(per_seed[0])]
    return {"minutes": minutes, "races": rows, **({"means": means} if means else {})}


def _rounded(x: float | None, digits: int = 4) -> float | None:
    return None if x is None else round(x, digits)


def tool_key(result: Result) -> str:
    """The name ``--json`` gives a tool: ``tuner``, ``random``, ``hyperband``."""
    return result.tool.removeprefix("kt-")


def json_rows(runs: dict[str, list[list[Result]]], seeds: list[int]) -> list[dict]:
    """What ``--json`` writes: one object per task, seed and tool, with the seconds it took to reach each
    tool's final best val, its own included (None: never, or that tool completed no trial)."""
    return [{**_row(task, seed, r, tool_key(r)),
             "seconds_to": {tool_key(o): None if o.best_val is None else _rounded(r.seconds_to(o.best_val), 1)
                            for o in results}}
            for task, per_seed in runs.items() for seed, results in zip(seeds, per_seed) for r in results]


def _row(task: str, seed: int | None, r: Result, tool: str) -> dict:
    return {"task": experiment(task), "seed": seed, "tool": tool, "complete": r.complete, "pruned": r.pruned,
            "epochs": r.epochs, "best_val": _rounded(r.best_val), "test": _rounded(r.test_accuracy)}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.vs_kerastuner", description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=3.0, help="wall-clock budget per tool per task")
    parser.add_argument("--tasks", default="digits,fashion", help="comma-separated tasks or experiment names")
    parser.add_argument("--tools", default=",".join(TOOLS), help=f"comma-separated, from: {', '.join(TOOLS)}")
    parser.add_argument("--seeds", help="comma-separated seeds: one race per seed, then each tool's mean")
    parser.add_argument("--workdir", type=Path, help="keep studies, MLflow runs and KerasTuner folders here")
    parser.add_argument("--json", type=Path, metavar="FILE",
                        help="also write one JSON object per task, seed and tool to FILE (a new file; needs --seeds)")
    parser.add_argument("overrides", nargs="*", help="tuner config overrides; '<task>:key=value' for one task")
    args = parser.parse_args(argv)
    tasks, tools = args.tasks.split(","), args.tools.split(",")
    unknown = sorted(set(tools) - set(TOOLS))
    if unknown or args.minutes <= 0:
        parser.error(f"--tools {unknown} unknown (choose from {', '.join(TOOLS)})" if unknown else "--minutes must be > 0")
    try:
        seeds = [int(s) for s in args.seeds.split(",")] if args.seeds else [None]
    except ValueError:
        parser.error(f"--seeds {args.seeds!r}: give whole numbers separated by commas, e.g. --seeds 0,1,2")
    if args.seeds and any(o.split(":", 1)[-1].startswith("seed=") for o in args.overrides):
        parser.error("--seeds sets seed= for each race: drop the seed= override, or --seeds")
    if args.workdir and args.workdir.exists() and any(args.workdir.iterdir()):
        parser.error(f"--workdir {args.workdir} is not empty: a study there would resume; name a new folder")
    if args.json and not args.seeds:
        parser.error("--json names each row's seed: give the seeds too, e.g. --seeds 0")
    if args.json and args.json.exists():
        parser.error(f"--json {args.json} exists: a race's results are never overwritten; name a new file")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)  # before the race, not after its hours
    logging.basicConfig(level=logging.WARNING)
    # KerasTuner reloads a trial's weights without its optimizer's state, and says so each time
    warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
    folder = args.workdir or Path(tempfile.mkdtemp(prefix="vs-kerastuner-"))
    per_task = task_overrides(tasks, args.overrides)
    start = time.monotonic()
    runs: dict[str, list[list[Result]]] = {task: [] for task in tasks}
    for seed in seeds:
        for task in tasks:
            extra, where = ([], folder) if seed is None else ([f"seed={seed}"], folder / f"seed{seed}")
            runs[task].append(race(task, per_task[task] + extra, args.minutes * 60, tools, where))
    for task in tasks:
        for seed, results in zip(seeds, runs[task]):
            label = "" if seed is None else f", seed {seed}"
            print(f"\n== {experiment(task)} ({args.minutes:g} min per tool{label})\n{report(results)}")
    if args.seeds:
        for task in tasks:
            print(f"\n== {experiment(task)}: over seeds {args.seeds}\n{summary(runs[task])}")
    save_results("vs_kerastuner", figures(runs, seeds, args.minutes))
    if args.json:
        args.json.write_text(json.dumps(json_rows(runs, seeds), indent=2) + "\n")
        print(f"rows written to {args.json}")
    print(f"\ntotal {time.monotonic() - start:.0f} s; outputs in {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
