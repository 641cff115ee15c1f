"""Opening a study: create it or resume it, refusing one whose direction or search space differs.

Example::

    ref = StudyRef("digits_cnn")
    study, created = join_study(ref, [("val_accuracy", "maximize")], space, sampler, pruner)
    open_study(ref)  # an existing study; a ConfigError naming the storage when there is none
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import warnings
from typing import Any, Mapping, Sequence

import optuna

from tuner.errors import ConfigError
from tuner.study.records import FINGERPRINT
from tuner.study.storage import StaleCallback, StudyRef, storage_for

Goals = Sequence[tuple[str, str]]


def fingerprint(space: Mapping[str, Any], goals: Goals) -> str:
    """A short hash of the parsed search space (its ``Param`` entries) and the objectives: what a resumed
    study must share. Unchanged since the first studies, so old studies keep resuming."""
    entries = [dataclasses.asdict(p) for _, p in sorted(space.items())]
    blob = json.dumps({"space": entries, "objectives": [list(g) for g in goals]}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def join_study(ref: StudyRef, goals: Goals, space: Mapping[str, Any],
               sampler: optuna.samplers.BaseSampler | None = None, pruner: optuna.pruners.BasePruner | None = None,
               on_stale: StaleCallback | None = None) -> tuple[optuna.Study, bool]:
    """Create the study or load it to resume; True when this call created it.

    With several workers starting at once exactly one of them creates the study. A stored
    study must have the same directions (``goals``: (metric, direction) pairs) and search space.
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
    fresh = f"start a fresh study with name=<new name>, or delete {ref.where()}"
    stored = [d.name.lower() for d in study.directions]
    if stored != directions:
        raise ConfigError(
            f"study '{ref.name}' in {ref.where()} was created with direction {_shown(stored)}, not "
            f"search.direction={_shown(directions)}; " + fresh
        )
    if study.metric_names is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names([m for m, _ in goals])
    mine, theirs = fingerprint(space, goals), study.user_attrs.get(FINGERPRINT)
    if theirs is None:
        study.set_user_attr(FINGERPRINT, mine)
    elif theirs != mine:
        raise ConfigError(
            f"study '{ref.name}' in {ref.where()} was run with a different search.space (fingerprint {theirs}, "
            f"now {mine}); mixing them would compare unlike trials: restore the old space, or " + fresh
        )
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
