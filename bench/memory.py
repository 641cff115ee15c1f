"""Resident memory over many sequential trials in one process: does it stay flat?

    .venv/bin/python bench/memory.py [n_trials] [experiment]

Runs ``n_trials`` (default 50) tiny trials (1 epoch, 400 images) through ``run_study``
and prints this process's resident memory as trials 1, 5, 10, ... start (each trial
records it in its ``worker_rss_mb`` attribute) and after the last one. Target (issue 4):
growth from trial 5 to the end under 5%.
"""

from __future__ import annotations

import os
import sys
import tempfile

from _common import study_cfg

from tuner.coordinate import RSS_ATTR, rss_mb  # noqa: E402
from tuner.run import run_study  # noqa: E402
from tuner.study import open_study  # noqa: E402


def main(n_trials: int, experiment: str) -> None:
    with tempfile.TemporaryDirectory(prefix="tuner-memory-") as tmp:
        os.chdir(tmp)
        cfg = study_cfg(tmp, f"+experiment={experiment}", f"search.n_trials={n_trials}", "search.space.epochs=1",
                        "data.max_samples=400", "search.space.batch_size=64", "pruner=none",
                        "search.space.width={type:int,low:8,high:64}")
        run_study(cfg)
        end = rss_mb()
        rss = [t.user_attrs[RSS_ATTR] for t in open_study(cfg).trials]
    for number in sorted({0, 4, *range(9, n_trials, 10)}):
        print(f"trial {number + 1:3d} starts: RSS {rss[number]:7.1f} MiB")
    print(f"after trial {n_trials:3d}:  RSS {end:7.1f} MiB")
    print(f"growth from trial 5 to the end: {100 * (end - rss[4]) / rss[4]:+.1f}% (target < 5%)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 50, sys.argv[2] if len(sys.argv) > 2 else "digits_cnn")
