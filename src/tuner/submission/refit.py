"""The final refit (``export.refit=true``): retrain the best trial's configuration on train +
validation before export, so the submitted model has seen every labelled image.

The refit uses the trial's hyperparameters and seed, for ``export.refit_epochs`` epochs (null:
the trial's own ``epochs``); there is no validation split left, so early stopping is off and
``reduce_on_plateau`` watches the training loss. The model is logged on the study's parent run
under ``refit_model/`` (each member of an ``export.ensemble`` under ``refit_model/trial_<n>/``),
with its final training loss and accuracy at step = the trial's number; export sets the tags that say
which model was submitted.

Example::

    model, tags, seconds = refit_best("digits_cnn", study.best_trial, data, tracker, parent_id, Path("/tmp/refit"),
                                      20, device, build_model)
    tags["tuner.refit_epochs"]  # "20"
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable

import optuna

from tuner.config import DeviceConfig
from tuner.data import Dataset
from tuner.errors import TunerError
from tuner.study.records import HPARAMS, SEED
from tuner.tracking import Tracker

log = logging.getLogger(__name__)
REFIT_ARTIFACT = "refit_model"


def refit_epochs(configured: int | None, hp: dict[str, Any]) -> int:
    """``export.refit_epochs`` (``configured``), or the trial's own ``epochs`` when it is null."""
    return int(configured) if configured is not None else int(hp["epochs"])


def refit_best(name: str, trial: optuna.trial.FrozenTrial, data: Dataset, tracker: Tracker, parent: str | None,
               out: Path, epochs: int, device: DeviceConfig, builder: Callable[..., Any],
               artifact: str = REFIT_ARTIFACT) -> tuple[Any, dict[str, str], float]:
    """Retrain ``trial``'s configuration (of study ``name``) on train + validation for ``epochs``, the model
    built by ``builder`` (the ``model`` plug point), and log it on ``parent`` under ``artifact``.

    Returns the model, the tags that record it, and the seconds the refit took.
    """
    from tuner.models import new_session
    from tuner.training import refit, save
    from tuner.training.device import activate

    hp, seed = trial.user_attrs.get(HPARAMS), trial.user_attrs.get(SEED)
    if hp is None or seed is None:
        raise TunerError(f"trial {trial.number} of '{name}' recorded no hyperparameters or seed to refit; "
                         "set export.refit=false to export its saved model")
    activate(device)
    new_session(int(seed))
    model = builder(hp, data.input_shape, data.n_classes, data.pixel_mean)
    images = len(data.x_train) + len(data.x_val)
    log.info("refitting trial %d on %d images (train + validation) for %d epochs", trial.number, images, epochs)
    result = refit(model, hp, data, epochs)
    tags = {"tuner.submission_refit": "true", "tuner.refit_source_trial": str(trial.number),
            "tuner.refit_epochs": str(epochs), "tuner.refit_images": str(images), "tuner.refit_seed": str(seed)}
    if parent:
        tracker.log_file(parent, save(model, out), artifact)
        tracker.log_metrics(parent, {"refit_final_loss": result.final("loss"),
                                     "refit_final_accuracy": result.final("accuracy")}, step=trial.number)
    return model, tags, result.seconds
