"""KerasTuner's searches on a wall-clock budget, recording what each trial did and when.

KerasTuner has no time limit, so ``timed(keras_tuner.Hyperband)`` adds one: no trial starts
after the deadline, and a trial still training when it passes is abandoned mid-epoch (it never
completes, so it neither counts nor competes for the best model). Every completed trial's
finish time, score and epochs are kept in ``tuner.records``.

Example::

    Search = timed(keras_tuner.RandomSearch)
    start = time.monotonic()
    search = Search(clock=Clock(start, start + 180), hypermodel=hm, objective="val_accuracy",
                    max_trials=10**6, directory=tmp, overwrite=True)
    run_until_deadline(search, x, y, validation_data=(xv, yv))
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import keras_tuner
from keras_tuner.src.engine import trial as trial_module


class BudgetSpent(keras_tuner.errors.FatalError):
    """Raised inside the search when the wall-clock budget is spent; ``run_until_deadline`` catches it."""


@dataclass
class TrialRecord:
    """One completed KerasTuner trial: seconds since the search began, its score, epochs it trained."""

    seconds: float
    score: float
    epochs: int
    trial_id: str


@dataclass
class Clock:
    """The budget (``time.monotonic()`` values) and what completed within it."""

    start: float
    deadline: float
    records: list[TrialRecord] = field(default_factory=list)
    epochs_in_trial: int = 0
    cut_epochs: int = 0  # epochs trained by the trial cut off at the deadline (they count nowhere)

    def check(self, training: bool) -> None:
        if time.monotonic() >= self.deadline:
            if training:
                self.cut_epochs = self.epochs_in_trial
            raise BudgetSpent("wall-clock budget spent")


def timed(base: type[keras_tuner.Tuner]) -> type[keras_tuner.Tuner]:
    """``base`` (a KerasTuner tuner class) stopping at ``clock.deadline`` (a ``time.monotonic()`` value)."""

    class Timed(base):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, clock: Clock, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.clock = clock

        def on_trial_begin(self, trial: Any) -> None:
            self.clock.check(training=False)
            self.clock.epochs_in_trial = 0
            super().on_trial_begin(trial)

        def on_batch_end(self, trial: Any, model: Any, batch: int, logs: Any = None) -> None:
            self.clock.check(training=True)
            super().on_batch_end(trial, model, batch, logs)

        def on_epoch_end(self, trial: Any, model: Any, epoch: int, logs: Any = None) -> None:
            self.clock.epochs_in_trial += 1
            super().on_epoch_end(trial, model, epoch, logs)

        def on_trial_end(self, trial: Any) -> None:
            super().on_trial_end(trial)
            done = self.oracle.get_trial(trial.trial_id)
            if done.status == trial_module.TrialStatus.COMPLETED and done.score is not None:
                self.clock.records.append(TrialRecord(time.monotonic() - self.clock.start, float(done.score),
                                                      self.clock.epochs_in_trial, trial.trial_id))

    Timed.__name__ = f"Timed{base.__name__}"
    return Timed


def run_until_deadline(search: Any, *fit_args: Any, **fit_kwargs: Any) -> Clock:
    """Run ``search.search(...)`` until its budget is spent (or its own trial limit); return its clock."""
    try:
        search.search(*fit_args, **fit_kwargs)
    except BudgetSpent:
        pass  # the budget ends the search: what completed before it is in search.clock.records
    return search.clock
