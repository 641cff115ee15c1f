"""Warm start (``search.warm_start=<experiment>``): seed a study with the best trials of another.

The source study is looked up by name where this study's would be (its journal under
``experiments_dir``, or ``search.storage``), or in ``search.warm_start_storage``. Its best
``search.warm_start_top`` completed trials are translated to the new space: each sampled entry
takes the source trial's value; entries the new space pins keep the new value. A trial whose
value falls outside a sampled entry's range or choices, or that set a hyperparameter the new
space lacks, is skipped with a warning naming the parameter.

Example::

    source = source_ref(StudyRef("fashion_cnn_v2"), "fashion_cnn", None)
    open_source(source)                          # a ConfigError before any data loads if it is missing
    warm_trials(source, 5, parse_space(cfg.search.space))  # [{"filters": 32, "learning_rate": 0.002, ...}, ...]
"""

from __future__ import annotations

import logging
from typing import Any, Mapping

import optuna

from tuner.errors import ConfigError
from tuner.search import Param, misfit_of
from tuner.study.join import open_study
from tuner.study.ranking import best_completed
from tuner.study.records import hparams
from tuner.study.storage import StudyRef

log = logging.getLogger(__name__)


def source_ref(ref: StudyRef, name: str, storage: str | None) -> StudyRef:
    """The study ``search.warm_start`` names: where ``ref`` lives, or in ``search.warm_start_storage``."""
    return StudyRef(name, ref.experiments_dir, storage or ref.storage)


def open_source(source: StudyRef) -> optuna.Study:
    """The source study; a ConfigError saying where it was looked for if there is none."""
    if source.storage is None and not source.journal.is_file():
        raise ConfigError(f"search.warm_start={source.name}: no study at {source.journal}; run that experiment first, "
                          "point search.warm_start_storage at its storage, or set search.warm_start=null")
    try:
        return open_study(source)
    except ConfigError as err:
        raise ConfigError(f"search.warm_start={source.name}: {err}") from err


def warm_trials(source: StudyRef, top: int, space: Mapping[str, Param]) -> list[dict[str, Any]]:
    """The parameters to enqueue: the source's best ``top`` trials that fit ``space``, best first."""
    study = open_source(source)
    picked: list[dict[str, Any]] = []
    for trial in best_completed(study)[:top]:
        hp = hparams(trial)
        misfit = misfit_of(hp, space)
        if misfit:
            log.warning("search.warm_start=%s: trial %d skipped, %s", source.name, trial.number, misfit)
            continue
        picked.append({k: v for k, v in hp.items() if space[k].type != "fixed"})
    log.info("search.warm_start=%s: enqueuing %d of its best trials", source.name, len(picked))
    return picked
