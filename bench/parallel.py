"""Trial throughput with ``search.n_workers=2`` versus 1, for a tiny and a mid-size model.

    .venv/bin/python bench/parallel.py [n_trials_tiny] [n_trials_mid] [n_trials_fashion]

A count of 0 skips that model; the Fashion model runs only when given a count.

Each setting runs a fresh study in its own folder; every trial trains the same model. Printed per setting: the wall time of
``run_study`` (for 2 workers this includes starting two Python processes that import
TensorFlow), the span from the first trial's start to the last trial's end, and trials
per minute over that span. The figures also go to bench/results/parallel-<date>-<time>.json.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time

from _common import save_results, span_seconds, study_cfg

from tuner.app import (
    run_study,  # noqa: E402
    study_ref,
)
from tuner.study import open_study  # noqa: E402

PINNED = ["search.space.dropout=0.1", "search.space.optimizer=adam", "search.space.learning_rate=0.001",
          "search.space.batch_size=64", "search.space.depth=1"]
# every trial trains the same model, so that only the number of workers differs
MODELS = {
    "tiny (MLP 12 units, 1 epoch, 1,000 images)": [
        "+experiment=digits_mlp", "data.max_samples=1000", "search.space.epochs=1", "search.space.width=12", *PINNED],
    "mid (CNN 32 filters 3x3 + 64 units, 3 epochs, 5,000 images)": [
        "+experiment=digits_cnn", "search.space.epochs=3", "search.space.width=64", "search.space.filters=32",
        "search.space.kernel_size=3", "search.space.pooling=max", *PINNED],
    # one of the Fashion race's trial shapes (bench/vs_kerastuner: 8,500 training images)
    "fashion (3 double-conv BN blocks of 32, gap head, batch 128, 2 epochs, 8,500 images)": [
        "+experiment=fashion_cnn", "search.enqueue=[]", "data.max_samples=10000", "data.val_fraction=0.15",
        "search.space.epochs=2", "search.space.depth=3", "search.space.filters=32", "search.space.head=gap",
        "search.space.width=96", "search.space.dropout=0.2", "search.space.optimizer=adam",
        "search.space.learning_rate=0.002", "search.space.lr_schedule=cosine", "search.space.batch_size=128",
        "search.space.augment_shift=0.05", "search.space.augment_flip=false"],
}


def main(n_tiny: int, n_mid: int, n_fashion: int) -> None:
    cpus = len(os.sched_getaffinity(0))
    print(f"{cpus} CPU cores")
    runs, speedups, models = [], [], {}
    for (label, overrides), n in zip(MODELS.items(), (n_tiny, n_mid, n_fashion)):
        if n == 0:
            continue
        spans = {}
        short, _, described = label.partition(" (")
        models[short] = described.rstrip(")")
        for workers in (1, 2):
            with tempfile.TemporaryDirectory(prefix="tuner-parallel-") as tmp:
                os.chdir(tmp)  # MLflow's artifacts go to ./mlruns
                cfg = study_cfg(tmp, *overrides, f"search.n_trials={n}", f"search.n_workers={workers}", "pruner=none")
                begin = time.perf_counter()
                run_study(cfg)
                wall = time.perf_counter() - begin
                trials = open_study(study_ref(cfg)).trials
                spans[workers] = span_seconds(trials)
                finished = sum(t.state.name in ("COMPLETE", "PRUNED") for t in trials)
            print(f"{label}, n_workers={workers}: {finished} trials, wall {wall:.1f} s, trial span "
                  f"{spans[workers]:.1f} s, {60 * finished / spans[workers]:.1f} trials/min")
            runs.append({"model": short, "workers": workers, "trials": finished, "wall_s": round(wall, 1),
                         "span_s": round(spans[workers], 1),
                         "trials_per_min": round(60 * finished / spans[workers], 1)})
        print(f"  speed-up n_workers=2 vs 1 (trial span): {spans[1] / spans[2]:.2f}x")
        speedups.append({"model": short, "speedup": round(spans[1] / spans[2], 2)})
    save_results("parallel", {"cores": cpus, "models": models, "runs": runs, "speedups": speedups})


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:]]
    main(*(args + [20, 6, 0][len(args):]))
