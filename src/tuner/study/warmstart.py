"""Warm start (``search.warm_start=<experiment>``): seed a study with the best trials of another.

The source study is looked up by name where this study's would be (its journal under
``experiments_dir``, or ``search.storage``), or in ``search.warm_start_storage``. Its best
``search.warm_start_top`` completed trials are translated to the new space: each sampled entry
takes the source trial's value; entries the new space pins keep the new value. A trial whose
value falls outside a sampled entry's range or choices, or that set a hyperparameter the new
space lacks, is skipped with a warning naming the parameter.

Example::

    check_source(cfg)                            # a ConfigError before any data loads if it is missing
    warm_trials(cfg, parse_space(cfg.search.space))  # [{"filters": 32, "learning_rate": 0.002, ...}, ...]
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Mapping

import optuna
from omegaconf import DictConfig, open_dict

from tuner.errors import ConfigError
from tuner.search.space import Param, misfit_of
from tuner.study import best_completed, open_study

log = logging.getLogger(__name__)


def _source_cfg(cfg: DictConfig) -> DictConfig:
    source = cfg.copy()
    with open_dict(source):
        source.name = cfg.search.warm_start
        if cfg.search.warm_start_storage:
            source.search.storage = cfg.search.warm_start_storage
    return source


def open_source(cfg: DictConfig) -> optuna.Study:
    """The study ``search.warm_start`` names; a ConfigError saying where it was looked for if there is none."""
    source = _source_cfg(cfg)
    journal = Path(cfg.experiments_dir) / source.name / "study.journal"
    if source.search.storage is None and not journal.is_file():
        raise ConfigError(f"search.warm_start={source.name}: no study at {journal}; run that experiment first, "
                          "point search.warm_start_storage at its storage, or set search.warm_start=null")
    try:
        return open_study(source, create=False)
    except ConfigError as err:
        raise ConfigError(f"search.warm_start={source.name}: {err}") from err


def warm_trials(cfg: DictConfig, space: Mapping[str, Param]) -> list[dict[str, Any]]:
    """The parameters to enqueue: the source's best trials that fit ``space``, best first."""
    study = open_source(cfg)
    picked: list[dict[str, Any]] = []
    for trial in best_completed(study)[: cfg.search.warm_start_top]:
        hp = trial.user_attrs.get("hparams", trial.params)
        misfit = misfit_of(hp, space)
        if misfit:
            log.warning("search.warm_start=%s: trial %d skipped, %s", cfg.search.warm_start, trial.number, misfit)
            continue
        picked.append({k: v for k, v in hp.items() if space[k].type != "fixed"})
    log.info("search.warm_start=%s: enqueuing %d of its best trials", cfg.search.warm_start, len(picked))
    return picked
