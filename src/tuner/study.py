"""The Optuna side of a study: storage, opening/resuming, budget and leaderboard.

Example::

    study = open_study(cfg, sampler, pruner)
    finished_count(study)
"""

from __future__ import annotations

import math
import re
import warnings
from pathlib import Path
from typing import Any

import optuna
import pandas as pd
from omegaconf import DictConfig

from tuner.config import experiment_dir, objectives
from tuner.errors import ConfigError

FINISHED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
RDB_SCHEMES = ("sqlite", "postgresql", "mysql")


def hide_password(url: str) -> str:
    """``postgresql://user:secret@host/db`` -> ``postgresql://user:***@host/db``."""
    return re.sub(r"(//[^:/@]+:)[^@]*@", r"\1***@", url)


def storage_for(cfg: DictConfig) -> optuna.storages.BaseStorage:
    """The study storage: ``search.storage`` if given, else a journal file under ``experiments/<name>/``."""
    url = cfg.search.storage
    if url is None:
        from optuna.storages.journal import JournalFileBackend, JournalStorage

        path = experiment_dir(cfg) / "study.journal"
        return JournalStorage(JournalFileBackend(str(path)))
    scheme = str(url).split(":", 1)[0].split("+", 1)[0]
    if scheme not in RDB_SCHEMES:
        raise ConfigError(
            f"search.storage={hide_password(url)}: unsupported URL; use {', '.join(s + '://...' for s in RDB_SCHEMES)}, "
            "or null for a journal file under experiments/<name>/"
        )
    try:
        return optuna.storages.RDBStorage(url, engine_kwargs={"pool_pre_ping": True})
    except Exception as err:  # noqa: BLE001 - SQLAlchemy raises many types for a bad URL or server
        raise ConfigError(f"search.storage={hide_password(url)} cannot be opened: {type(err).__name__}: "
                          f"{hide_password(str(err)).splitlines()[0]}") from err


def open_study(cfg: DictConfig, sampler: optuna.samplers.BaseSampler | None = None,
               pruner: optuna.pruners.BasePruner | None = None, create: bool = True) -> optuna.Study:
    """Create the experiment's study, or load it to resume; the directions must match the stored ones."""
    storage = storage_for(cfg)
    goals = objectives(cfg)
    if not create:
        try:
            return optuna.load_study(study_name=cfg.name, storage=storage, sampler=sampler, pruner=pruner)
        except KeyError as err:
            raise ConfigError(
                f"no study '{cfg.name}' in {where(cfg)}: run `python -m tuner +experiment={cfg.name}` first"
            ) from err
    directions = [d for _, d in goals]
    study = optuna.create_study(study_name=cfg.name, storage=storage, sampler=sampler, pruner=pruner,
                                directions=directions, load_if_exists=True)
    stored = [d.name.lower() for d in study.directions]
    if stored != directions:
        raise ConfigError(
            f"study '{cfg.name}' in {where(cfg)} was created with direction {_shown(stored)}, not "
            f"search.direction={_shown(directions)}; start a fresh study with name=<new name>, or delete {where(cfg)}"
        )
    if study.metric_names is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names([m for m, _ in goals])
    return study


def _shown(directions: list[str]) -> str:
    return directions[0] if len(directions) == 1 else str(directions)


def where(cfg: DictConfig) -> str:
    if cfg.search.storage:
        return hide_password(str(cfg.search.storage))
    return str(Path(cfg.experiments_dir) / cfg.name / "study.journal")


def finished_count(study: optuna.Study) -> int:
    """Trials that count against ``search.n_trials``: complete or pruned."""
    return len(study.get_trials(deepcopy=False, states=FINISHED))


def ranked_trials(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """Every trial, best first: complete by their values (the first objective, ties broken by the next ones),
    then pruned by their last report, then the rest. The first complete trial is always Pareto-optimal."""
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

    return sorted(study.get_trials(deepcopy=False), key=key)


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
            "n_params": attrs.get("n_params"), "epochs_run": attrs.get("epochs_run"),
            "seconds": attrs.get("seconds"), "seed": attrs.get("seed"),
            "mlflow_run_id": attrs.get("mlflow_run_id"), "fail_reason": attrs.get("fail_reason"),
        })
        row.update({f"hp.{k}": v for k, v in attrs.get("hparams", t.params).items()})
        rows.append(row)
    return pd.DataFrame(rows)


def best_completed(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """Completed trials, best first (by the first objective; the first one is on the Pareto front)."""
    return [t for t in ranked_trials(study) if t.state == optuna.trial.TrialState.COMPLETE]
