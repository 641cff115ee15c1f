"""Platform overhead: wall time of a small study through tuner, divided by the summed
time of bare `model.fit` calls for the same trial configurations (same data, seeds).

    .venv/bin/python bench/overhead.py [n_trials] [epochs]

Target (issue 2): ratio at most 1.05. The study's time includes everything a user
waits for inside the process: storage, MLflow runs and per-epoch logging, model
saving, the leaderboard and the parent run's artifacts. MLflow's one-time creation
of a new mlflow.db (a project's very first run) is printed apart. TensorFlow is
warmed up by one tiny fit first, so its start-up is charged to neither side.
The figures also go to bench/results/overhead-<date>-<time>.json.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from tuner.app import run_study, study_ref  # noqa: E402
from _common import save_results  # noqa: E402

from tuner.config import compose  # noqa: E402
from tuner.data import load_dataset  # noqa: E402
from tuner.models.builder import build_model, new_session  # noqa: E402
from tuner.study import open_study  # noqa: E402
from tuner.training.fit import compile_model  # noqa: E402


def warm_up(data) -> None:
    """One tiny fit first, so that TensorFlow's one-time start-up is charged to neither side."""
    hp = {"arch": "mlp", "width": 8, "depth": 1, "dropout": 0.0, "activation": "relu", "initializer": "he_normal",
          "optimizer": "adam", "learning_rate": 1e-3}
    new_session(0)
    model = build_model(hp, data.input_shape, data.n_classes)
    compile_model(model, hp)
    model.fit(data.x_train[:256], data.y_train[:256], epochs=1, verbose=0)


def _train_seconds(cfg, trial) -> float:
    from mlflow.tracking import MlflowClient

    run = MlflowClient(cfg.tracking.uri).get_run(trial.user_attrs["mlflow_run_id"])
    return run.data.metrics["train_seconds"]


def main(n_trials: int, epochs: int) -> None:
    with tempfile.TemporaryDirectory(prefix="tuner-overhead-") as tmp:
        os.chdir(tmp)
        cfg = compose(["+experiment=digits_cnn", f"search.n_trials={n_trials}", f"search.space.epochs={epochs}",
                       "pruner=none", f"experiments_dir={tmp}/experiments", f"tracking.uri=sqlite:///{tmp}/mlflow.db"])
        data = load_dataset(cfg.data, cfg.seed)  # decoded once per process in both cases
        warm_up(data)
        begin = time.perf_counter()
        from mlflow.tracking import MlflowClient

        MlflowClient(cfg.tracking.uri).search_experiments()  # creates mlflow.db as a project's first run does
        db_seconds = time.perf_counter() - begin
        start = time.perf_counter()
        run_study(cfg)
        study_seconds = time.perf_counter() - start
        trials = open_study(study_ref(cfg)).trials
        inside = sum(t.user_attrs["seconds"] for t in trials)
        fits_inside = sum(_train_seconds(cfg, t) for t in trials)
        fit_seconds = 0.0
        for t in trials:
            hp = t.user_attrs["hparams"]
            new_session(t.user_attrs["seed"])
            model = build_model(hp, data.input_shape, data.n_classes)
            compile_model(model, hp)
            begin = time.perf_counter()
            model.fit(data.x_train, data.y_train, validation_data=(data.x_val, data.y_val),
                      epochs=hp["epochs"], batch_size=hp["batch_size"], verbose=0)
            fit_seconds += time.perf_counter() - begin
    print(f"{len(trials)} trials x {epochs} epochs on digits_cnn")
    print(f"study through tuner: {study_seconds:.1f} s; bare model.fit total: {fit_seconds:.1f} s")
    print(f"one-time creation of a new mlflow.db (first run in a project, not counted): {db_seconds:.1f} s")
    print(f"inside the study: objective calls {inside:.1f} s, of which model.fit {fits_inside:.1f} s")
    print(f"overhead ratio: {study_seconds / fit_seconds:.3f} (target <= 1.05)")
    save_results("overhead", {
        "trials": len(trials), "epochs": epochs, "study_s": round(study_seconds, 1), "bare_fit_s": round(fit_seconds, 1),
        "new_mlflow_db_s": round(db_seconds, 1), "objective_s": round(inside, 1), "fit_inside_s": round(fits_inside, 1),
        "overhead_ratio": round(study_seconds / fit_seconds, 3)})


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:]]
    main(*(args + [5, 5][len(args):]))
