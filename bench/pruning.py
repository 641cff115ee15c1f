"""Pruning payoff on the digits task: how much sooner do Hyperband and median pruning reach
the best validation accuracy of an unpruned study with the same trial count, sampler and seed?

    .venv/bin/python bench/pruning.py [n_trials] [epochs] [max_samples]

Runs three fresh studies of ``digits_cnn`` (TPE, seed 0): ``pruner=none``, ``median``,
``hyperband``. For a pruned study: the wall time (from its first trial's start) at which its
best so far first reaches the unpruned study's best minus 0.3 points, against the unpruned
study's whole wall time, as a ratio. Target (issue 4): at least 2x at no more than 0.3
points lower best. The figures also go to bench/results/pruning-<date>-<time>.json.
"""

from __future__ import annotations

import os
import sys
import tempfile

from _common import save_results, span_seconds, study_cfg

from tuner.app import (
    run_study,  # noqa: E402
    study_ref,
)
from tuner.study import open_study  # noqa: E402

TOLERANCE = 0.003  # 0.3 points of accuracy


def run(pruner: str, n_trials: int, epochs: int, max_samples: int) -> list:
    with tempfile.TemporaryDirectory(prefix="tuner-pruning-") as tmp:
        os.chdir(tmp)  # MLflow's artifacts go to ./mlruns
        cfg = study_cfg(tmp, "+experiment=digits_cnn", f"pruner={pruner}", f"search.n_trials={n_trials}",
                        f"search.space.epochs={epochs}", f"data.max_samples={max_samples}",
                        "tracking.log_models=false")
        run_study(cfg)
        return open_study(study_ref(cfg)).trials


def seconds_to_reach(trials: list, target: float) -> float | None:
    """Seconds from the first trial's start until a completed trial reaches ``target``."""
    start = min(t.datetime_start for t in trials)
    done = [t for t in trials if t.state.name == "COMPLETE" and t.value >= target]
    return min((t.datetime_complete - start).total_seconds() for t in done) if done else None


def main(n_trials: int, epochs: int, max_samples: int) -> None:
    print(f"digits_cnn, TPE seed 0, {n_trials} trials of up to {epochs} epochs, {max_samples} images")
    baseline = run("none", n_trials, epochs, max_samples)
    best = max(t.value for t in baseline if t.state.name == "COMPLETE")
    wall = span_seconds(baseline)
    print(f"none: best val_accuracy {best:.4f}, wall {wall:.1f} s")
    rows = [{"pruner": "none", "best_val_accuracy": round(best, 4), "pruned": 0, "wall_s": round(wall, 1)}]
    for pruner in ("median", "hyperband"):
        trials = run(pruner, n_trials, epochs, max_samples)
        own = max(t.value for t in trials if t.state.name == "COMPLETE")
        pruned = sum(t.state.name == "PRUNED" for t in trials)
        reach = seconds_to_reach(trials, best - TOLERANCE)
        span = span_seconds(trials)
        line = (f"{pruner}: best {own:.4f} ({100 * (own - best):+.2f} points), {pruned} pruned, "
                f"wall {span:.1f} s (whole study {wall / span:.2f}x faster); ")
        if reach is None:
            line += f"never within 0.3 points of {best:.4f}"
        else:
            line += f"within 0.3 points of {best:.4f} after {reach:.1f} s: {wall / reach:.2f}x faster (target >= 2x)"
        print(line)
        rows.append({"pruner": pruner, "best_val_accuracy": round(own, 4), "pruned": pruned, "wall_s": round(span, 1),
                     "study_speedup": round(wall / span, 2), "reach_s": None if reach is None else round(reach, 1),
                     "time_to_best_speedup": None if reach is None else round(wall / reach, 2)})
    save_results("pruning", {"trials": n_trials, "epochs": epochs, "images": max_samples, "pruners": rows})


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:]]
    main(*(args + [20, 5, 5000][len(args):]))
