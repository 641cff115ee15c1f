"""``python -m tuner.replay +experiment=<name> trial=<N>``: retrain one trial of a study from the
hyperparameters and seed it logged, and compare the values.

Give the same overrides as the study's run (data, storage, tracking); the trial's own
replay line (tag ``tuner.replay``) supplies the rest. The retrained trial is a one-trial
study ``<name>_replay_t<N>`` of its own, tracked in MLflow like any other; running the
command again reports that study instead of training again.

Example::

    python -m tuner.replay +experiment=digits_cnn trial=3
    # trial 3 of digits_cnn: val_accuracy 0.9853 -> replayed 0.9853 (difference 0)
"""

from __future__ import annotations

import logging
import shlex
from dataclasses import dataclass

import optuna
from omegaconf import DictConfig

from tuner.config import compose, objectives, validate
from tuner.errors import ConfigError, TunerError
from tuner.study import open_study

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Replayed:
    trial: int
    metric: str
    original: float
    replayed: float
    study: str


def replay(cfg: DictConfig, number: int) -> Replayed:
    """Retrain trial ``number`` of the study ``cfg`` names (once) and return both values of its first metric."""
    from tuner.runner.loop import run_study

    validate(cfg)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    trials = open_study(cfg, create=False).get_trials(deepcopy=False)
    original = next((t for t in trials if t.number == number), None)
    if original is None:
        raise ConfigError(f"trial={number}: study '{cfg.name}' has trials 0..{len(trials) - 1}")
    if original.state != optuna.trial.TrialState.COMPLETE or "replay" not in original.user_attrs:
        raise ConfigError(f"trial={number} of '{cfg.name}' is {original.state.name}: only a completed trial "
                          "has a value to reproduce")
    overrides = shlex.split(original.user_attrs["replay"])[3:]
    again = compose(overrides)
    run_study(again, overrides)
    done = [t for t in open_study(again, create=False).trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not done:
        raise TunerError(f"the replay of trial {number} did not complete; see study '{again.name}'")
    return Replayed(number, objectives(cfg)[0][0], original.values[0], done[0].values[0], again.name)
