"""Per-trial cost of a trial's model as an MLflow Keras model, over the bare model.keras it replaces (5-epoch CNN)

The MLflow model is a LoggedModel with its signature, input example and pinned requirements; the bare artifact is
``model.keras`` logged to the trial's run, as trials did before; both are timed against a 5-epoch digits CNN trial.

    .venv/bin/python bench/model_logging.py [repeats]

Target (issue 19.3): the MLflow model adds at most 3 % to a 5-epoch digits trial over the bare save. The two ways
alternate on the same trained model, each into a fresh run of one SQLite store; the steady figure of each is
the median of ``repeats`` calls, and the first call in the process (which imports mlflow.keras) is printed apart.
The figures also go to bench/results/model_logging-<date>-<time>.json.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from _common import MID_CNN, save_results  # noqa: E402

from tuner.models.builder import build_model, new_session  # noqa: E402
from tuner.tracking.logged_model import card_for  # noqa: E402
from tuner.tracking.tracker import Tracker  # noqa: E402
from tuner.training.fit import save, train  # noqa: E402


def main(repeats: int) -> None:
    from tuner.config import compose
    from tuner.data import load_dataset

    with tempfile.TemporaryDirectory(prefix="tuner-model-bench-") as tmp:
        os.chdir(tmp)
        cfg = compose(["+experiment=digits_cnn"])  # the digits task as shipped (MNIST-5k)
        data = load_dataset(cfg.data, cfg.seed)
        tracker = Tracker(f"sqlite:///{tmp}/mlflow.db", "bench")
        parent = tracker.open_parent(None, "bench")
        new_session(0)
        model, start = build_model(MID_CNN, data.input_shape, data.n_classes), time.perf_counter()
        result = train(model, MID_CNN, data)
        trial_seconds = time.perf_counter() - start
        card, finals = card_for(data, "scale"), result.finals()

        def bare(i: int) -> float:
            run_id = tracker.start_trial(parent, i, MID_CNN, {})
            begin = time.perf_counter()
            tracker.log_file(run_id, save(model, Path(tmp) / f"bare-{i}"), "model")
            return time.perf_counter() - begin

        def flavor(i: int) -> float:
            run_id = tracker.start_trial(parent, i, MID_CNN, {})
            begin = time.perf_counter()
            tracker.log_model(run_id, model, card, finals)
            return time.perf_counter() - begin

        first_bare, first_flavor = bare(0), flavor(1)
        costs: dict[str, list[float]] = {"bare": [], "flavor": []}
        for i in range(repeats):
            costs["bare"].append(bare(2 + 2 * i))
            costs["flavor"].append(flavor(3 + 2 * i))
        size = sum(f.stat().st_size for f in Path(tmp, "mlruns").rglob("*") if f.is_file() and "models" in f.parts)
    bare_s, flavor_s = statistics.median(costs["bare"]), statistics.median(costs["flavor"])
    added = flavor_s - bare_s
    print(f"5-epoch digits CNN trial (model.fit): {trial_seconds:.2f} s")
    print(f"bare model.keras artifact: median {bare_s * 1000:.0f} ms; MLflow Keras model: median "
          f"{flavor_s * 1000:.0f} ms over {repeats} trials each")
    print(f"added per trial: {added * 1000:.0f} ms = {100 * added / trial_seconds:.2f} % of the trial "
          f"(target: <= 3 %); the whole MLflow model: {100 * flavor_s / trial_seconds:.2f} %")
    print(f"first call in the process: bare {first_bare * 1000:.0f} ms, MLflow model {first_flavor * 1000:.0f} ms "
          "(imports mlflow.keras)")
    save_results("model_logging", {
        "trial_s": round(trial_seconds, 2), "bare_ms": round(bare_s * 1000), "mlflow_model_ms": round(flavor_s * 1000),
        "added_ms": round(added * 1000), "added_pct": round(100 * added / trial_seconds, 2),
        "mlflow_model_pct": round(100 * flavor_s / trial_seconds, 2), "repeats": repeats,
        "first_bare_ms": round(first_bare * 1000), "first_mlflow_model_ms": round(first_flavor * 1000),
        "logged_model_mib": round(size / (repeats + 1) / 2**20, 2)})


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10)
