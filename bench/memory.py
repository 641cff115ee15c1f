"""Resident memory over many sequential trials in one process: does it stay flat?

    .venv/bin/python bench/memory.py [n_trials] [trials_per_worker]

Runs ``n_trials`` (default 50) tiny CNN trials (1 epoch, 400 images) through ``run_study``
and prints the resident memory of the process that ran each trial as trials 1, 5, 10, ...
start (each trial records it in its ``worker_rss_mb`` attribute) and, in-process, after the
last one. With ``trials_per_worker`` (e.g. 10) the trials run in worker processes that are
replaced after that many trials. Target (issue 4): growth from trial 5 to the end under 5%.
The figures also go to bench/results/memory-<date>-<time>.json.
"""

from __future__ import annotations

import os
import sys
import tempfile

from _common import save_results, study_cfg

from tuner.app import (
    run_study,  # noqa: E402
    study_ref,
)
from tuner.runner.coordinate import rss_mb
from tuner.study import open_study  # noqa: E402
from tuner.study.records import WORKER_RSS_MB as RSS_ATTR  # noqa: E402


def main(n_trials: int, trials_per_worker: int | None) -> None:
    with tempfile.TemporaryDirectory(prefix="tuner-memory-") as tmp:
        os.chdir(tmp)
        per_worker = f"search.trials_per_worker={trials_per_worker}" if trials_per_worker else "search.n_workers=1"
        cfg = study_cfg(tmp, "+experiment=digits_cnn", f"search.n_trials={n_trials}", "search.space.epochs=1", per_worker,
                        "data.max_samples=400", "search.space.batch_size=64", "pruner=none",
                        "search.space.width={type:int,low:8,high:64}")
        run_study(cfg)
        rss = [t.user_attrs[RSS_ATTR] for t in open_study(study_ref(cfg)).trials]
    if not trials_per_worker:
        rss.append(rss_mb())  # this process, after the last trial
    print(f"{n_trials} trials, " + (f"a fresh worker process every {trials_per_worker}" if trials_per_worker
                                     else "all in this process"))
    for number in sorted({0, 4, *range(9, len(rss), 10)}):
        print(f"trial {number + 1:3d} starts: RSS {rss[number]:7.1f} MiB")
    if not trials_per_worker:
        print(f"after trial {n_trials:3d}:  RSS {rss[-1]:7.1f} MiB")
    growth = 100 * (max(rss[4:]) - rss[4]) / rss[4]
    print(f"growth from trial 5 to the end: {growth:+.1f}% (highest; target < 5%)")
    save_results("memory", {
        "trials": n_trials, "trials_per_worker": trials_per_worker, "rss_trial_5_mib": round(rss[4], 1),
        "rss_highest_after_trial_5_mib": round(max(rss[4:]), 1), "growth_pct": round(growth, 1),
        "rss_mib": [round(r, 1) for r in rss]})


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 50, int(sys.argv[2]) if len(sys.argv) > 2 else None)
