"""The README's main job, timed: `python -m tuner +experiment=digits_cnn` then export,
from an empty folder, as a user runs them. Prints wall time and accuracies and writes them to
bench/results/default_run-<date>-<time>.json.

    .venv/bin/python bench/default_run.py [extra overrides...]

Targets (issue 2): at most 10 minutes on 2 CPU cores; best validation accuracy >= 0.97.
"""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import save_results


def main(extra: list[str]) -> None:
    load_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="tuner-bench-") as tmp:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "tuner", "+experiment=digits_cnn", *extra], cwd=tmp, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        search = time.perf_counter() - start
        out = subprocess.run([sys.executable, "-m", "tuner.export", "+experiment=digits_cnn", *extra], cwd=tmp,
                             check=True, capture_output=True, text=True).stdout
        total = time.perf_counter() - start
        rows = list(csv.DictReader(open(Path(tmp) / "experiments/digits_cnn/leaderboard.csv")))
    states = [r["state"] for r in rows]
    test = re.search(r"test accuracy ([0-9.]+)", out)
    print(f"trials: {len(rows)} ({states.count('COMPLETE')} complete, {states.count('PRUNED')} pruned, "
          f"{states.count('FAIL')} failed)")
    print(f"search wall time: {search:.1f} s ({search / 60:.2f} min); with export: {total:.1f} s")
    print(f"best val_accuracy: {float(rows[0]['value']):.4f} (trial {rows[0]['trial']})")
    print(f"test accuracy of the exported model: {test.group(1) if test else 'n/a'}")
    save_results("default_run", {
        "trials": len(rows), "complete": states.count("COMPLETE"), "pruned": states.count("PRUNED"),
        "failed": states.count("FAIL"), "search_s": round(search, 1), "export_s": round(total - search, 1),
        "best_val_accuracy": round(float(rows[0]["value"]), 4), "best_trial": int(rows[0]["trial"]),
        "test_accuracy": float(test.group(1)) if test else None},
        f"1-min load {load_start:.1f} at the start and {os.getloadavg()[0]:.1f} at the end on {os.cpu_count()} cores: "
        "above the core count, other processes shared the machine and the wall times are upper bounds.")


if __name__ == "__main__":
    main(sys.argv[1:])
