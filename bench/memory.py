"""Resident memory of the whole process tree over a long study of tiny trials: does it stay flat?

    .venv/bin/python bench/memory.py [n_trials] [trials_per_worker] [--experiment NAME]

Runs ``n_trials`` (default 100) tiny trials (1 epoch, 400 images, narrow layers) through ``run_study``
with tuner's default settings otherwise; ``trials_per_worker`` is ``default`` (the config's,
``search.trials_per_worker``), ``null`` (everything in this process) or a number. A thread samples the
resident memory (RSS) of this process and every process it started (the workers) twice a second;
each trial's figure is the highest sum sampled while it ran. It prints the figure at trials 1, 10,
20, ... and the growth from trial 10 to the highest after it (target, issue 22: under 10%), and what
replacing a worker costs: the pause between a worker's last trial and the next worker's first, less
the usual pause between two trials of one process. The figures go to bench/results/memory-<date>-<time>.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import os
import tempfile
import threading
from pathlib import Path
from statistics import mean

if __package__:  # imported as bench.memory (the tests)
    from bench._common import save_results, study_cfg
else:  # python bench/memory.py
    from _common import save_results, study_cfg

from tuner.app import run_study, study_ref
from tuner.study import open_study
from tuner.study.records import WORKER_PID

TARGET_PCT = 10.0
SAMPLE_S = 0.5
TINY = ["data.max_samples=400", "search.space.epochs=1", "search.space.batch_size=64",
        "search.space.width={type:int,low:8,high:64}"]
TINY_CNN = ["++search.space.filters={type:categorical,choices:[4,8]}"]


def tree_rss_mib(root: int) -> float:
    """The summed RSS of ``root`` and all its descendants (from /proc: psutil is not a dependency)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            pages = int((entry / "statm").read_text().split()[1])
        except OSError:  # it ended while we looked
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
        rss[int(entry.name)] = pages
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo += children.get(pid, [])
    return total * os.sysconf("SC_PAGE_SIZE") / 2**20


class Sampler(threading.Thread):
    """Samples ``tree_rss_mib`` of this process every SAMPLE_S seconds until stopped."""

    def __init__(self) -> None:
        super().__init__(name="rss-sampler", daemon=True)
        self.samples: list[tuple[dt.datetime, float]] = []
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(SAMPLE_S):
            self.samples.append((dt.datetime.now(), tree_rss_mib(os.getpid())))

    def peak(self, start: dt.datetime, end: dt.datetime) -> float:
        """The highest sample from ``start`` to ``end`` (the last one before ``end`` if none fell inside)."""
        inside = [mib for at, mib in self.samples if start <= at <= end]
        return max(inside) if inside else [mib for at, mib in self.samples if at <= end][-1]


def recycle_cost(trials: list) -> tuple[int, float | None, float]:
    """Worker processes that ran the trials; the extra seconds each replacement cost (pause at a change of
    worker less the usual pause between two trials of one worker); the usual pause."""
    trials = sorted(trials, key=lambda t: t.datetime_start)
    within, changes = [], []
    for before, after in itertools.pairwise(trials):
        pause = (after.datetime_start - before.datetime_complete).total_seconds()
        (changes if after.user_attrs[WORKER_PID] != before.user_attrs[WORKER_PID] else within).append(pause)
    usual = mean(within) if within else 0.0
    return len(changes) + 1, (mean(changes) - usual if changes else None), usual


def main(n_trials: int, per_worker: str, experiment: str | None) -> None:
    overrides = [f"+experiment={experiment}"] if experiment else []
    if per_worker != "default":
        overrides.append(f"search.trials_per_worker={per_worker}")
    sampler = Sampler()
    with tempfile.TemporaryDirectory(prefix="tuner-memory-") as tmp:
        os.chdir(tmp)
        cnn = not experiment or "cnn" in experiment
        cfg = study_cfg(tmp, *overrides, f"search.n_trials={n_trials}", *TINY, *(TINY_CNN if cnn else []))
        sampler.start()
        began = dt.datetime.now()
        run_study(cfg)
        wall = (dt.datetime.now() - began).total_seconds()
        sampler.done.set()
        sampler.join()
        trials = sorted(open_study(study_ref(cfg)).trials, key=lambda t: t.number)
    rss = [sampler.peak(t.datetime_start, t.datetime_complete) for t in trials]
    workers, cost, usual = recycle_cost(trials)
    setting = cfg.search.trials_per_worker
    print(f"{n_trials} trials of {cfg.name}, search.trials_per_worker={setting}: {workers} process(es) ran them")
    for number in sorted({0, *range(9, len(rss), 10)}):
        print(f"trial {number + 1:3d}: process tree RSS {rss[number]:7.1f} MiB")
    growth = 100 * (max(rss[9:]) - rss[9]) / rss[9]
    verdict = "meets" if growth < TARGET_PCT else "MISSES"
    print(f"growth from trial 10 to the highest after it: {growth:+.1f}% ({verdict} the target < {TARGET_PCT:g}%)")
    print(f"{wall:.0f} s in all, {60 * n_trials / wall:.1f} trials/min; usual pause between trials {usual:.2f} s"
          + (f"; a fresh worker cost {cost:.1f} s more, {cost * (workers - 1) / n_trials:.2f} s a trial"
             if cost is not None else ""))
    save_results("memory", {
        "experiment": cfg.name, "trials": n_trials, "trials_per_worker": setting, "processes": workers,
        "rss_trial_10_mib": round(rss[9], 1), "rss_highest_after_trial_10_mib": round(max(rss[9:]), 1),
        **({"rss_trial_100_mib": round(rss[99], 1)} if len(rss) >= 100 else {}),
        "growth_pct": round(growth, 1), "target_pct": TARGET_PCT, "meets_target": growth < TARGET_PCT,
        "wall_s": round(wall, 1), "trials_per_min": round(60 * n_trials / wall, 2),
        "pause_between_trials_s": round(usual, 2),
        "recycle_s": round(cost, 1) if cost is not None else None,
        "recycle_s_per_trial": round(cost * (workers - 1) / n_trials, 2) if cost is not None else None,
        "rss_by_trial": milestones(rss)})


def milestones(rss: list[float]) -> list[dict[str, float]]:
    """The tree's RSS at trials 1, 10, 20, ...: the table of the result file."""
    return [{"trial": n + 1, "tree_rss_mib": round(rss[n], 1)} for n in sorted({0, *range(9, len(rss), 10)})]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n_trials", nargs="?", type=int, default=100)
    parser.add_argument("trials_per_worker", nargs="?", default="default", help="default, null or a number")
    parser.add_argument("--experiment", help="e.g. digits_mlp; none: tuner's default settings")
    args = parser.parse_args()
    main(args.n_trials, args.trials_per_worker, args.experiment)
