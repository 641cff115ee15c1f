"""Cost of the per-trial artifacts (model summary + learning-curve PNG, logged to MLflow)
against a 5-epoch digits CNN trial, and of the study plots drawn once per invocation.

    .venv/bin/python bench/insight_overhead.py [repeats]

Target (issue 5): per-trial artifacts add at most a few percent to a 5-epoch digits trial.
The first call in a process also imports matplotlib; it is printed apart from the steady
per-trial figure (the median of ``repeats`` calls). The figures also go to
bench/results/insight_overhead-<date>-<time>.json.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from _common import MID_CNN as HP  # noqa: E402
from _common import save_results  # noqa: E402

from tuner.config import compose  # noqa: E402
from tuner.data import load_dataset  # noqa: E402
from tuner.models.builder import build_model, describe, new_session  # noqa: E402
from tuner.tracking.tracker import Tracker  # noqa: E402
from tuner.training.fit import train  # noqa: E402


def main(repeats: int) -> None:
    from tuner.tracking.report import log_study_plots, log_trial

    with tempfile.TemporaryDirectory(prefix="tuner-insight-bench-") as tmp:
        os.chdir(tmp)
        cfg = compose(["+experiment=digits_cnn", f"experiments_dir={tmp}/experiments",
                       f"tracking.uri=sqlite:///{tmp}/mlflow.db"])
        data = load_dataset(cfg.data, cfg.seed)
        tracker = Tracker(cfg.tracking.uri, "bench")
        parent = tracker.open_parent(None, "bench")
        new_session(0)
        model = build_model(HP, data.input_shape, data.n_classes)
        epochs: list[dict[str, float]] = []
        start = time.perf_counter()
        train(model, HP, data, lambda epoch, logs: epochs.append(logs))
        trial_seconds = time.perf_counter() - start

        costs = []
        for i in range(repeats + 1):
            run_id = tracker.start_trial(parent, i, HP, {})
            begin = time.perf_counter()
            log_trial(tracker, run_id, i, epochs, describe(model))
            costs.append(time.perf_counter() - begin)
        first, steady = costs[0], statistics.median(costs[1:])

        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study = optuna.create_study(direction="maximize", pruner=optuna.pruners.MedianPruner(n_startup_trials=3))

        def objective(trial: optuna.Trial) -> float:
            width = trial.suggest_int("width", 32, 256, log=True)
            trial.suggest_categorical("filters", [16, 32, 64])
            trial.suggest_float("learning_rate", 1e-4, 1e-2, log=True)
            for epoch in range(5):
                trial.report(width / 300 + epoch / 50, epoch)
                if trial.should_prune():
                    raise optuna.TrialPruned()
            return width / 300

        study.optimize(objective, n_trials=20)
        begin = time.perf_counter()
        files = log_study_plots(study, tracker, parent, "val_accuracy")
        plots_seconds = time.perf_counter() - begin
    print(f"5-epoch digits CNN trial (model.fit): {trial_seconds:.2f} s")
    print(f"per-trial artifacts (summary + learning curve, logged): median {steady * 1000:.0f} ms over {repeats} "
          f"trials = {100 * steady / trial_seconds:.1f} % of the trial (target: a few %)")
    print(f"first call in the process (imports matplotlib): {first * 1000:.0f} ms")
    print(f"study plots of a 20-trial study, once per invocation: {plots_seconds:.1f} s ({len(files)} files)")
    save_results("insight_overhead", {
        "trial_s": round(trial_seconds, 2), "artifacts_ms": round(steady * 1000), "repeats": repeats,
        "artifacts_pct": round(100 * steady / trial_seconds, 1), "first_call_ms": round(first * 1000),
        "study_plots_s": round(plots_seconds, 1), "study_trials": 20, "plot_files": len(files)})


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10)
