"""Run one tool on one task within a wall-clock budget and collect its figures.

Both tools see the same ``Dataset`` (tuner's ``load_dataset``, so identical train,
validation and test arrays), the same space and the same models, and both score a trial by
its best epoch (KerasTuner's rule; tuner's ``restore_best``). Only trials that complete within
the budget count: tuner's search (``search.timeout``) stops a trial running at the deadline
after its epoch, KerasTuner's is cut off mid-epoch.

Example::

    result = run_tuner(cfg, budget=180.0, data=load_dataset(cfg.data, cfg.seed))
    result.best_val, result.test_accuracy, result.seconds_to(0.98)
"""

from __future__ import annotations

import datetime as dt
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig

import tuner  # noqa: F401 - quiets TensorFlow before anything imports it
from tuner.data import Dataset
from tuner.search.space import Param

PREDICT_BATCH = 1024
TRIAL_LIMIT = 1_000_000  # "no limit": the budget ends the search
WARM_UP_IMAGES = 64


@dataclass
class Result:
    """What one tool did with the budget: counted trials, epochs, best values and when it found them."""

    tool: str
    complete: int
    pruned: int
    epochs: int
    best_val: float | None
    test_accuracy: float | None
    wall: float  # seconds the tool actually ran, including anything after the deadline
    curve: list[tuple[float, float]] = field(default_factory=list)  # (seconds, value) per completed trial
    note: str = ""

    def seconds_to(self, target: float) -> float | None:
        """Seconds until a completed trial first scored at least ``target`` (None: never)."""
        return next((s for s, v in sorted(self.curve) if v >= target), None)


def accuracy(model: Any, x: np.ndarray, y: np.ndarray) -> float:
    """Share of ``x`` that ``model`` labels as ``y``."""
    predicted = np.argmax(model.predict(x, batch_size=PREDICT_BATCH, verbose=0), axis=1)
    return float(np.mean(predicted == y))


def warm_up(space: dict[str, Param], data: Dataset, seed: int) -> None:
    """Fit one small batch once, so that TensorFlow's start-up costs no tool its budget."""
    import keras_tuner

    from bench.vs_kerastuner.translate import TunerHyperModel
    from tuner.models.builder import new_session

    new_session(seed)
    hypermodel = TunerHyperModel(space, data.input_shape, data.n_classes, data.pixel_mean)
    model = hypermodel.build(keras_tuner.HyperParameters())
    model.fit(data.x_train[:WARM_UP_IMAGES], data.y_train[:WARM_UP_IMAGES], epochs=1, verbose=0)


def max_epochs(space: dict[str, Param]) -> int:
    """The most epochs a trial of ``space`` trains (Hyperband's ``max_epochs``)."""
    p = space["epochs"]
    return int(p.value if p.type == "fixed" else max(p.choices) if p.type == "categorical" else p.high)


def run_tuner(cfg: DictConfig, budget: float, data: Dataset) -> Result:
    """tuner's own search (``run_study``: the config's sampler and pruner) with ``search.timeout=budget``."""
    import optuna

    from tuner.app import run_study, study_ref
    from tuner.study import open_study
    from tuner.submission.members import load_trial_model
    from tuner.tracking.tracker import Tracker

    began, start = dt.datetime.now(), time.monotonic()
    run_study(cfg)
    wall = time.monotonic() - start
    study = open_study(study_ref(cfg))
    counted = [t for t in study.get_trials(deepcopy=False) if t.datetime_complete is not None
               and (t.datetime_complete - began).total_seconds() <= budget]
    done = [t for t in counted if t.state == optuna.trial.TrialState.COMPLETE]
    pruned = [t for t in counted if t.state == optuna.trial.TrialState.PRUNED]
    curve = [((t.datetime_complete - began).total_seconds(), float(t.value)) for t in done]
    epochs = sum(int(t.user_attrs.get("epochs_run", 0)) for t in done + pruned)
    late = len(study.trials) - len(counted)
    result = Result("tuner", len(done), len(pruned), epochs, None, None, wall, curve,
                    f"{late} trial(s) finished after the budget, not counted" if late else "")
    if done:
        best = max(done, key=lambda t: t.value)
        with tempfile.TemporaryDirectory(prefix="vs-kt-model-") as tmp:
            model = load_trial_model(Tracker(cfg.tracking.uri, cfg.name), best.user_attrs["mlflow_run_id"], Path(tmp))
            result.best_val, result.test_accuracy = float(best.value), accuracy(model, data.x_test, data.y_test)
    return result


def run_kerastuner(kind: str, space: dict[str, Param], data: Dataset, budget: float, folder: Path,
                   seed: int) -> Result:
    """KerasTuner's ``Hyperband`` (``kind="hyperband"``, factor 3, ``max_epochs`` = the space's most epochs,
    iterated until the budget ends) or ``RandomSearch`` (``kind="random"``) on tuner's space and models."""
    import keras_tuner

    from bench.vs_kerastuner.timed import Clock, run_until_deadline, timed
    from bench.vs_kerastuner.translate import TunerHyperModel
    from tuner.models.builder import new_session

    new_session(seed)  # under op determinism random ops need a seed; KerasTuner's per-trial reset keeps it
    start = time.monotonic()
    hypermodel = TunerHyperModel(space, data.input_shape, data.n_classes, data.pixel_mean)
    common = dict(hypermodel=hypermodel, objective="val_accuracy", seed=seed, directory=str(folder),
                  project_name=kind, overwrite=True, clock=Clock(start, start + budget))
    if kind == "hyperband":
        search = timed(keras_tuner.Hyperband)(max_epochs=max_epochs(space), factor=3, hyperband_iterations=None,
                                              **common)
    elif kind == "random":
        search = timed(keras_tuner.RandomSearch)(max_trials=TRIAL_LIMIT, **common)
    else:
        raise ValueError(f"unknown KerasTuner search {kind!r}; choose hyperband or random")
    clock = run_until_deadline(search, data.x_train, data.y_train, validation_data=(data.x_val, data.y_val),
                               verbose=0)
    wall = time.monotonic() - start
    curve = [(r.seconds, r.score) for r in clock.records]
    result = Result(f"kt-{kind}", len(clock.records), 0, sum(r.epochs for r in clock.records), None, None, wall,
                    curve, "score = best epoch's val_accuracy (KerasTuner's own); "
                           f"{clock.cut_epochs} epoch(s) of a trial cut at the deadline")
    if clock.records:
        model = search.get_best_models(1)[0]
        result.best_val = max(v for _, v in curve)
        result.test_accuracy = accuracy(model, data.x_test, data.y_test)
    return result
