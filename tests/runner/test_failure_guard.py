"""FailureGuard and BestSoFar read only the trials that ended since their last call, and agree at every step with
a full read of the study: the failures in a row by end time (workers' trials and earlier runs' count together),
surplus trials left out, and ``best_completed(study)[0]``."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import optuna
import pytest
from optuna.trial import TrialState

from tuner.errors import TunerError
from tuner.runner.optimize import FailureGuard
from tuner.study import best_completed
from tuner.study.ranking import BestSoFar, EndedTrials
from tuner.study.records import FAIL_REASON, SURPLUS

T0 = datetime(2026, 1, 1)
X = optuna.distributions.FloatDistribution(0.0, 1.0)


def ended(state: TrialState, second: int, value: float = 0.5, surplus: bool = False) -> optuna.trial.FrozenTrial:
    """A trial that started at T0 and ended ``second`` seconds later (FAIL with a reason)."""
    attrs = {SURPLUS: True} if surplus else {}
    if state == TrialState.FAIL:
        attrs[FAIL_REASON] = f"boom at {second}"
    trial = optuna.trial.create_trial(state=state, value=value if state == TrialState.COMPLETE else None,
                                      params={"x": 0.5}, distributions={"x": X}, user_attrs=attrs,
                                      intermediate_values={0: value} if state == TrialState.PRUNED else None)
    trial.datetime_start, trial.datetime_complete = T0, T0 + timedelta(seconds=second)
    return trial


def in_a_row_by_full_read(study: optuna.Study) -> int:
    """What the guard counted before it read incrementally: sort every finished trial by end, count back."""
    done = sorted((t for t in study.get_trials() if t.state.is_finished() and not t.user_attrs.get(SURPLUS)),
                  key=lambda t: (t.datetime_complete, t.number))
    count = 0
    for t in reversed(done):
        if t.state != TrialState.FAIL:
            break
        count += 1
    return count


def test_the_guard_stops_the_study_after_failures_in_a_row_by_end_time_counting_earlier_ones() -> None:
    study = optuna.create_study(direction="maximize")
    # an earlier run, or another worker: trial 0 ended after trial 1 although it started first, so by end time
    # one failure is in a row (by number, none); a surplus trial is not counted
    study.add_trials([ended(TrialState.FAIL, 10), ended(TrialState.COMPLETE, 5), ended(TrialState.FAIL, 11, surplus=True)])

    def failing(trial: optuna.trial.Trial) -> float:
        trial.set_user_attr(FAIL_REASON, f"boom in trial {trial.number}")
        raise ValueError("boom")

    guard = FailureGuard(3)
    study.optimize(failing, n_trials=10, catch=(ValueError,), callbacks=[guard])
    assert [t.state for t in study.trials[3:]] == [TrialState.FAIL, TrialState.FAIL]  # 1 + 2 in a row: stopped
    assert guard.tripped and guard.in_a_row == 3
    with pytest.raises(TunerError, match=r"^3 trials failed in a row \(search.max_failures=3\); last reason: "
                                         r"boom in trial 4\."):
        guard.raise_if_tripped()
    study.add_trial(ended(TrialState.COMPLETE, 12))  # ended after trial 0, before trials 3 and 4
    again = FailureGuard(5)  # a rerun: its guard counts what earlier runs left
    study.optimize(failing, n_trials=1, catch=(ValueError,), callbacks=[again])
    assert again.in_a_row == in_a_row_by_full_read(study) == 3 and not again.tripped


@pytest.mark.parametrize("seed", range(5))
def test_the_guard_and_the_best_agree_with_a_full_read_at_every_step(seed: int) -> None:
    rng = random.Random(seed)
    study = optuna.create_study(direction="minimize" if seed % 2 else "maximize")
    guard, best, running = FailureGuard(1000), BestSoFar(), []
    for step in range(120):
        if running and rng.random() < 0.5:  # a running trial (another worker's) ends now
            trial = running.pop(rng.randrange(len(running)))
            state = rng.choice([TrialState.COMPLETE, TrialState.FAIL, TrialState.FAIL, TrialState.PRUNED])
            if rng.random() < 0.1:
                trial.set_user_attr(SURPLUS, True)
            study.tell(trial, rng.random() if state == TrialState.COMPLETE else None, state=state)
        elif rng.random() < 0.3:
            running.append(study.ask())
        else:
            state = rng.choice([TrialState.COMPLETE, TrialState.FAIL, TrialState.PRUNED])
            study.add_trial(ended(state, 1000 + step, value=rng.choice([0.1, 0.5, 0.9, float("inf"), float("-inf")])))
        guard(study, study.trials[-1])
        assert guard.in_a_row == in_a_row_by_full_read(study), step
        full = best_completed(study)
        top = best(study)
        assert (top.number if top else None) == (full[0].number if full else None), step


def test_ended_trials_hands_out_each_finished_trial_once_in_end_order() -> None:
    study = optuna.create_study()
    cursor = EndedTrials()
    waiting = study.ask()
    study.add_trials([ended(TrialState.COMPLETE, 5), ended(TrialState.FAIL, 3)])
    assert [t.number for t in cursor.new(study)] == [2, 1]
    assert cursor.new(study) == []
    study.tell(waiting, 0.1)
    assert [t.number for t in cursor.new(study)] == [0]
