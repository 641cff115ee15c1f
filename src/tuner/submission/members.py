"""The models a submission averages: the best completed trials' logged models (the next-best standing in
for one that does not load), or their configurations refit on train + validation, and the one Keras model
that averages several of them.

Example::

    found, refit_tags = members(plan, best_completed(study), data, tracker, parent_id, Path(tmp))
    model = ensemble([m for _, m in found], tuple(t.number for t, _ in found))
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import optuna

from tuner.data import Dataset
from tuner.errors import TunerError
from tuner.models.custom import model_builder
from tuner.study.records import MLFLOW_RUN_ID, hparams
from tuner.submission.plan import ExportPlan
from tuner.submission.refit import REFIT_ARTIFACT, refit_best, refit_epochs
from tuner.tracking import Tracker

log = logging.getLogger(__name__)
Member = tuple[optuna.trial.FrozenTrial, Any]  # a trial and its Keras model
LEGACY_ARTIFACT = "model/model.keras"  # where a trial's model was before it was an MLflow model


def members(plan: ExportPlan, candidates: list[optuna.trial.FrozenTrial], data: Dataset, tracker: Tracker,
            parent: str | None, tmp: Path) -> tuple[list[Member], dict[str, str]]:
    """The models to submit, best first: the best ``export.ensemble`` completed trials' saved models, or
    their configurations refit on train + validation (``export.refit``), with the refit's tags."""
    k = plan.options.ensemble
    if not plan.options.refit:
        found = loadable_best(plan.study.name, candidates, tracker, tmp, k)
        if len(found) < k:
            log.warning("export.ensemble=%d, but only %d completed trial%s with a loadable model: averaging those",
                        k, len(found), "s" if len(found) > 1 else "")
        return found, {}
    chosen = candidates[:k]
    if len(chosen) < k:
        log.warning("export.ensemble=%d, but the study has only %d completed trials: refitting those", k, len(chosen))
    builder = model_builder(plan.model)
    refits: list[Member] = []
    tags: list[dict[str, str]] = []
    seconds = 0.0
    for t in chosen:
        artifact = REFIT_ARTIFACT if len(chosen) == 1 else f"{REFIT_ARTIFACT}/trial_{t.number}"
        epochs = refit_epochs(plan.options.refit_epochs, hparams(t))
        model, member_tags, took = refit_best(plan.study.name, t, data, tracker, parent, tmp / f"refit_{t.number}",
                                              epochs, plan.device, builder, artifact)
        refits.append((t, model))
        tags.append(member_tags)
        seconds += took
    if parent:
        tracker.log_metrics(parent, {"refit_seconds": seconds})
    # one value where the members agree (epochs, images), else theirs in member order (trial, seed)
    return refits, {key: tags[0][key] if len({d[key] for d in tags}) == 1 else ",".join(d[key] for d in tags)
                     for key in tags[0]}


def ensemble(models: list[Any], trials: tuple[int, ...]) -> Any:
    """One Keras model that averages ``models``' predicted probabilities; member ``i`` is named after
    ``trials[i]`` (``trial_<n>``), so the saved model says which trials it holds.

    Example::

        model = ensemble([a, b], (3, 0))   # layers: input, trial_3, trial_0, average
    """
    import keras

    inputs = keras.Input(shape=models[0].input_shape[1:])
    outputs = []
    for model, number in zip(models, trials):
        model.name = f"trial_{number}"
        outputs.append(model(inputs))
    return keras.Model(inputs, keras.layers.Average(name="average")(outputs), name="ensemble")


def loadable_best(name: str, candidates: list[optuna.trial.FrozenTrial], tracker: Tracker, tmp: Path,
                   k: int = 1) -> list[Member]:
    """The best ``k`` completed trials whose saved models load, with those models (next-best ones standing in
    for any that do not; see ``load_trial_model``)."""
    found: list[Member] = []
    for trial in candidates:
        if len(found) == k:
            break
        try:
            model = load_trial_model(tracker, trial.user_attrs.get(MLFLOW_RUN_ID), tmp / str(trial.number))
        except Exception as err:  # noqa: BLE001 - missing or corrupt artifact: try the next-best trial
            log.warning("trial %d: its model cannot be loaded (%s); trying the next-best trial",
                        trial.number, str(err).splitlines()[0])
            continue
        found.append((trial, model))
    if not found:
        raise TunerError(f"none of the {len(candidates)} completed trials of '{name}' has a loadable model "
                         "(tracking.log_models=false, or the artifacts under mlruns/ were removed)")
    if found[0][0] is not candidates[0]:
        log.warning("exporting trial %d instead of the best trial %d, whose model could not be loaded",
                    found[0][0].number, candidates[0].number)
    return found


def load_trial_model(tracker: Tracker, run_id: str, dst: Path) -> Any:
    """The ``keras.Model`` of the trial whose MLflow run is ``run_id``, downloaded into ``dst``: its MLflow model
    (the LoggedModel the run lists among its outputs), or for a trial tracked before trials' models were MLflow
    models, its run's bare ``model/model.keras``. Either loads with Keras' safe mode on (no code runs).

    Example::

        model = load_trial_model(tracker, trial.user_attrs["mlflow_run_id"], Path(tmp))
    """
    import keras

    model_id = tracker.trial_model(run_id)
    if model_id is not None:
        return tracker.load_model(model_id, dst)
    return keras.saving.load_model(tracker.download(run_id, LEGACY_ARTIFACT, dst), safe_mode=True)
