"""Replaying a trial (``python -m tuner.replay``): the trial to retrain, the overrides its replay command
holds, and the value the retrained one-trial study ``<name>_replay_t<N>`` reached.

Running the command again reports that study instead of training again (its budget is reached).

Example::

    original = replayable(StudyRef("digits_cnn"), 3)
    overrides = replay_overrides(original.user_attrs[REPLAY])
"""

from __future__ import annotations

from dataclasses import dataclass

import optuna

from tuner.errors import ConfigError, TunerError
from tuner.study import StudyRef, open_study


@dataclass(frozen=True)
class Replayed:
    trial: int
    metric: str
    original: float
    replayed: float
    study: str


def replayable(ref: StudyRef, number: int) -> optuna.trial.FrozenTrial:
    """Trial ``number`` of the study, which must have completed (only then is there a value to reproduce)."""
    from tuner.study.records import REPLAY

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    trials = open_study(ref).get_trials(deepcopy=False)
    original = next((t for t in trials if t.number == number), None)
    if original is None:
        raise ConfigError(f"trial={number}: study '{ref.name}' has trials 0..{len(trials) - 1}")
    if original.state != optuna.trial.TrialState.COMPLETE or REPLAY not in original.user_attrs:
        raise ConfigError(f"trial={number} of '{ref.name}' is {original.state.name}: only a completed trial "
                          "has a value to reproduce")
    return original


def replayed_value(ref: StudyRef, number: int) -> float:
    """The first value of the replay study's completed trial."""
    done = [t for t in open_study(ref).trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not done:
        raise TunerError(f"the replay of trial {number} did not complete; see study '{ref.name}'")
    return float(done[0].values[0])
