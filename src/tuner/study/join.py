"""Opening a study: create it or resume it, refusing one whose direction or search space differs.

Example::

    study, created = join_study(cfg, sampler, pruner)
    open_study(cfg, create=False)  # a ConfigError naming the storage when there is none
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import warnings
from pathlib import Path

import optuna
from omegaconf import DictConfig

from tuner.config import objectives
from tuner.errors import ConfigError
from tuner.search import parse_space
from tuner.study.storage import StaleCallback, hide_password, storage_for

FINGERPRINT_ATTR = "space_fingerprint"


def fingerprint(cfg: DictConfig) -> str:
    """A short hash of the parsed search space and the objectives: what a resumed study must share."""
    space = [dataclasses.asdict(p) for _, p in sorted(parse_space(cfg.search.space).items())]
    blob = json.dumps({"space": space, "objectives": objectives(cfg)}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def join_study(cfg: DictConfig, sampler: optuna.samplers.BaseSampler | None = None,
               pruner: optuna.pruners.BasePruner | None = None,
               on_stale: StaleCallback | None = None) -> tuple[optuna.Study, bool]:
    """Create the experiment's study or load it to resume; True when this call created it.

    With several workers starting at once exactly one of them creates the study. A stored
    study must have the same direction and search space as ``cfg``.
    """
    storage = storage_for(cfg, on_stale)
    goals = objectives(cfg)
    directions = [d for _, d in goals]
    try:
        study = optuna.create_study(study_name=cfg.name, storage=storage, sampler=sampler, pruner=pruner,
                                    directions=directions)
        created = True
    except optuna.exceptions.DuplicatedStudyError:
        study = optuna.load_study(study_name=cfg.name, storage=storage, sampler=sampler, pruner=pruner)
        created = False
    fresh = f"start a fresh study with name=<new name>, or delete {where(cfg)}"
    stored = [d.name.lower() for d in study.directions]
    if stored != directions:
        raise ConfigError(
            f"study '{cfg.name}' in {where(cfg)} was created with direction {_shown(stored)}, not "
            f"search.direction={_shown(directions)}; " + fresh
        )
    if study.metric_names is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names([m for m, _ in goals])
    mine, theirs = fingerprint(cfg), study.user_attrs.get(FINGERPRINT_ATTR)
    if theirs is None:
        study.set_user_attr(FINGERPRINT_ATTR, mine)
    elif theirs != mine:
        raise ConfigError(
            f"study '{cfg.name}' in {where(cfg)} was run with a different search.space (fingerprint {theirs}, "
            f"now {mine}); mixing them would compare unlike trials: restore the old space, or " + fresh
        )
    return study, created


def _shown(directions: list[str]) -> str:
    return directions[0] if len(directions) == 1 else str(directions)


def open_study(cfg: DictConfig, sampler: optuna.samplers.BaseSampler | None = None,
               pruner: optuna.pruners.BasePruner | None = None, create: bool = True) -> optuna.Study:
    """Create the experiment's study, or load it to resume (``create=False``: it must exist)."""
    if create:
        return join_study(cfg, sampler, pruner)[0]
    try:
        return optuna.load_study(study_name=cfg.name, storage=storage_for(cfg), sampler=sampler, pruner=pruner)
    except KeyError as err:
        raise ConfigError(
            f"no study '{cfg.name}' in {where(cfg)}: run `python -m tuner +experiment={cfg.name}` first"
        ) from err


def where(cfg: DictConfig) -> str:
    if cfg.search.storage:
        return hide_password(str(cfg.search.storage))
    return str(Path(cfg.experiments_dir) / cfg.name / "study.journal")
