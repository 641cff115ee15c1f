"""Opening a study: create it or resume it, refusing one whose direction, search space, data or settings differ
(``tuner.study.fingerprint``).

Example::

    ref = StudyRef("digits_cnn")
    study, created = join_study(ref, [("val_accuracy", "maximize")], space, sampler, pruner,
                                trained=trained_on(plan.data, plan.seed, plan.model, dataset))
    open_study(ref)  # an existing study; a ConfigError naming the storage when there is none
"""

from __future__ import annotations

import warnings
from typing import Any, Mapping

import optuna

from tuner.errors import ConfigError
from tuner.study.fingerprint import Goals, fingerprint, fresh, searched, settle
from tuner.study.storage import StaleCallback, StudyRef, storage_for


def join_study(ref: StudyRef, goals: Goals, space: Mapping[str, Any],
               sampler: optuna.samplers.BaseSampler | None = None, pruner: optuna.pruners.BasePruner | None = None,
               on_stale: StaleCallback | None = None,
               trained: Mapping[str, Any] | None = None) -> tuple[optuna.Study, bool]:
    """Create the study or load it to resume; True when this call created it.

    With several workers starting at once exactly one of them creates the study. A stored
    study must have the same directions (``goals``: (metric, direction) pairs), search space and
    ``trained`` parts (``tuner.study.fingerprint.trained_on``: data, seed, model; those it lacks are added).
    """
    storage = storage_for(ref, on_stale)
    directions = [d for _, d in goals]
    try:
        study = optuna.create_study(study_name=ref.name, storage=storage, sampler=sampler, pruner=pruner,
                                    directions=directions)
        created = True
    except optuna.exceptions.DuplicatedStudyError:
        study = optuna.load_study(study_name=ref.name, storage=storage, sampler=sampler, pruner=pruner)
        created = False
    stored = [d.name.lower() for d in study.directions]
    if stored != directions:
        raise ConfigError(
            f"study '{ref.name}' in {ref.where()} was created with direction {_shown(stored)}, not "
            f"search.direction={_shown(directions)}; " + fresh(ref)
        )
    if study.metric_names is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names([m for m, _ in goals])
    settle(study, ref, {**searched(space, goals), **(trained or {})}, fingerprint(space, goals), created)
    return study, created


def _shown(directions: list[str]) -> str:
    return directions[0] if len(directions) == 1 else str(directions)


def open_study(ref: StudyRef, sampler: optuna.samplers.BaseSampler | None = None,
               pruner: optuna.pruners.BasePruner | None = None) -> optuna.Study:
    """The existing study ``ref`` names; a ConfigError saying where it was looked for if there is none."""
    try:
        return optuna.load_study(study_name=ref.name, storage=storage_for(ref), sampler=sampler, pruner=pruner)
    except KeyError as err:
        raise ConfigError(
            f"no study '{ref.name}' in {ref.where()}: run `python -m tuner +experiment={ref.name}` first"
        ) from err
