"""Trials ranked best first, the leaderboard table, and the counts a budget is measured in.

Example::

    best_completed(study)[0].number
    leaderboard(study).to_csv("leaderboard.csv", index=False)
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any, Callable

import optuna
import pandas as pd

from tuner.study.records import (
    EPOCHS_RUN,
    FAIL_REASON,
    MLFLOW_RUN_ID,
    N_PARAMS,
    SECONDS,
    SEED,
    hparams,
)

FINISHED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)


def finished_count(study: optuna.Study) -> int:
    """Trials that count against ``search.n_trials``: complete or pruned."""
    return len(study.get_trials(deepcopy=False, states=FINISHED))


def end_order(trial: optuna.trial.FrozenTrial) -> tuple[datetime, int]:
    """The order trials ended in: by completion time, then number."""
    return trial.datetime_complete or datetime.min, trial.number


class EndedTrials:
    """The study's trials as they finish, each once, in the order they ended: what a per-trial callback
    needs without sorting the whole study after every trial.

    A trial keeps its number (its place in the study) and a finished trial never changes, so each call
    looks only at the trials from the first one not yet seen finished.

    Example::

        ended = EndedTrials()
        ended.new(study)  # every finished trial, the first time
        ended.new(study)  # only those that finished since
    """

    def __init__(self) -> None:
        self._start = 0  # every trial before this number was seen finished
        self._seen: set[int] = set()  # trials from _start on that were seen finished

    def new(self, study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
        """The trials that finished since the last call (all finished ones at the first), in ``end_order``."""
        trials = study.get_trials(deepcopy=False)  # in number order: trial n is trials[n]
        fresh = [t for t in trials[self._start:] if t.state.is_finished() and t.number not in self._seen]
        self._seen.update(t.number for t in fresh)
        while self._start in self._seen:
            self._seen.discard(self._start)
            self._start += 1
        return sorted(fresh, key=end_order)


def rank_key(study: optuna.Study) -> Callable[[optuna.trial.FrozenTrial], tuple[int, list[float], int]]:
    """The sort key of ``ranked_trials``: complete by their values (the first objective, ties broken by the next
    ones), then pruned by their last report, then the rest; ties by number."""
    signs = [-1.0 if d == optuna.study.StudyDirection.MAXIMIZE else 1.0 for d in study.directions]

    def key(t: optuna.trial.FrozenTrial) -> tuple[int, list[float], int]:
        if t.state == optuna.trial.TrialState.COMPLETE and t.values:
            group, values = 0, list(t.values)
        elif t.state == optuna.trial.TrialState.PRUNED and t.intermediate_values:
            group, values = 1, [t.intermediate_values[max(t.intermediate_values)]]
        else:
            group, values = 2, []
        ordered = [sign * v if v is not None and math.isfinite(v) else math.inf for sign, v in zip(signs, values)]
        return group, ordered, t.number

    return key


def ranked_trials(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """Every trial, best first (``rank_key``). The first complete trial is always Pareto-optimal."""
    return sorted(study.get_trials(deepcopy=False), key=rank_key(study))


class BestSoFar:
    """``best_completed(study)[0]`` kept up to date from the trials that ended since the last call, for a
    callback after every trial (``best_completed`` sorts the whole study).

    Example::

        best = BestSoFar()
        top = best(study)  # None until a trial completes
    """

    def __init__(self) -> None:
        self._ended = EndedTrials()
        self._best: optuna.trial.FrozenTrial | None = None

    def __call__(self, study: optuna.Study) -> optuna.trial.FrozenTrial | None:
        key = rank_key(study)
        for t in self._ended.new(study):
            if t.state == optuna.trial.TrialState.COMPLETE and (self._best is None or key(t) < key(self._best)):
                self._best = t
        return self._best


def metric_names(study: optuna.Study) -> list[str]:
    """The names of the study's objectives (``value`` for an old unnamed single-objective study)."""
    return list(study.metric_names or (["value"] if len(study.directions) == 1 else
                                       [f"value_{i}" for i in range(len(study.directions))]))


def pareto_numbers(study: optuna.Study) -> set[int]:
    """Numbers of the trials on the Pareto front (for one objective: the best trial or trials)."""
    return {t.number for t in study.best_trials}


def leaderboard(study: optuna.Study) -> pd.DataFrame:
    """One row per trial, best first: number, state, value(s), Pareto flag, hyperparameters and bookkeeping.

    ``value`` is the first objective; a multi-objective study adds one ``value.<metric>`` column per objective.
    """
    names = metric_names(study) if len(study.directions) > 1 else []
    front = pareto_numbers(study)
    rows: list[dict[str, Any]] = []
    for rank, t in enumerate(ranked_trials(study), start=1):
        attrs = t.user_attrs
        values = list(t.values or [None] * len(study.directions))
        row: dict[str, Any] = {"rank": rank, "trial": t.number, "state": t.state.name, "value": values[0]}
        row.update({f"value.{name}": v for name, v in zip(names, values)})
        row.update({
            "pareto": t.number in front,
            **{name: attrs.get(name) for name in (N_PARAMS, EPOCHS_RUN, SECONDS, SEED, MLFLOW_RUN_ID, FAIL_REASON)},
        })
        row.update({f"hp.{k}": v for k, v in hparams(t).items()})
        rows.append(row)
    return pd.DataFrame(rows)


def best_completed(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """Completed trials, best first (by the first objective; the first one is on the Pareto front)."""
    return [t for t in ranked_trials(study) if t.state == optuna.trial.TrialState.COMPLETE]


# The leaderboard table's columns, in this order when present; every hyperparameter column (hp.*) follows.
FIRST = ("rank", "trial", "state", "value", "n_params", "epochs_run", "seconds")
LAST = ("mlflow_run_id",)


def leaderboard_table(study: optuna.Study, name: str, top: int) -> str:
    """The first ``top`` rows of the study's leaderboard, formatted for a terminal."""
    board = leaderboard(study)
    if board.empty:
        return f"study '{name}' has no trial yet"
    rows = board.head(top)
    value_cols = [c for c in rows.columns if c == "value" or c.startswith("value")]
    first = [c for c in FIRST if c in rows.columns and c != "value"]
    hp = sorted(c for c in rows.columns if c.startswith("hp."))
    cols = first[:3] + value_cols + first[3:] + hp + [c for c in LAST if c in rows.columns]
    shown = rows[cols].rename(columns=lambda c: c.removeprefix("hp."))
    directions = ", ".join(d.name.lower() for d in study.directions)
    header = f"{name}: top {len(rows)} of {len(board)} trials ({directions})"
    return header + "\n" + shown.to_string(index=False, na_rep="", float_format=lambda v: f"{v:.4g}")
