"""The Optuna side of a study: storage, opening/resuming, budget and leaderboard.

Example::

    study = open_study(cfg, sampler, pruner)
    finished_count(study)
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import re
import time
import warnings
from pathlib import Path
from typing import Any, Callable

import optuna
import pandas as pd
from omegaconf import DictConfig

from tuner.config import experiment_dir, objectives
from tuner.errors import ConfigError
from tuner.space import parse_space

FINISHED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
RDB_SCHEMES = ("sqlite", "postgresql", "mysql")
FINGERPRINT_ATTR = "space_fingerprint"
# RDB storages beat every HEARTBEAT_S while a trial runs; a RUNNING trial silent for
# HEARTBEAT_GRACE_S (its worker died, on any machine) is failed by the next worker.
HEARTBEAT_S = 10
HEARTBEAT_GRACE_S = 30
SCHEMA_RACE_TRIES = 4
StaleCallback = Callable[[optuna.Study, optuna.trial.FrozenTrial], None]


def hide_password(url: str) -> str:
    """``postgresql://user:secret@host/db`` -> ``postgresql://user:***@host/db``."""
    return re.sub(r"(//[^:/@]+:)[^@]*@", r"\1***@", url)


def storage_for(cfg: DictConfig, on_stale: StaleCallback | None = None) -> optuna.storages.BaseStorage:
    """The study storage: ``search.storage`` if given, else a journal file under ``experiments/<name>/``.

    Both are safe for concurrent writers (the journal through Optuna's lock file). RDB storages
    get a heartbeat, and ``on_stale`` is called for each trial whose worker stopped beating.
    """
    url = cfg.search.storage
    if url is None:
        from optuna.storages.journal import JournalFileBackend, JournalStorage

        path = experiment_dir(cfg) / "study.journal"
        repair_journal(path)
        return JournalStorage(JournalFileBackend(str(path)))
    scheme = str(url).split(":", 1)[0].split("+", 1)[0]
    if scheme not in RDB_SCHEMES:
        raise ConfigError(
            f"search.storage={hide_password(url)}: unsupported URL; use {', '.join(s + '://...' for s in RDB_SCHEMES)}, "
            "or null for a journal file under experiments/<name>/"
        )
    from sqlalchemy.exc import IntegrityError, ProgrammingError

    for attempt in range(SCHEMA_RACE_TRIES):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return optuna.storages.RDBStorage(url, engine_kwargs={"pool_pre_ping": True},
                                                  heartbeat_interval=HEARTBEAT_S, grace_period=HEARTBEAT_GRACE_S,
                                                  heartbeat_stale_trial_callback=on_stale)
        except (IntegrityError, ProgrammingError) as err:
            # workers starting together on an empty database all create Optuna's tables; one wins
            if attempt == SCHEMA_RACE_TRIES - 1:
                raise _unusable(url, err) from err
            time.sleep(1.0 + attempt)
        except Exception as err:  # noqa: BLE001 - SQLAlchemy raises many types for a bad URL or server
            raise _unusable(url, err) from err
    raise AssertionError("unreachable")


def _unusable(url: str, err: Exception) -> ConfigError:
    return ConfigError(f"search.storage={hide_password(url)} cannot be opened: {type(err).__name__}: "
                       f"{hide_password(str(err)).splitlines()[0]}")


def repair_journal(path: Path) -> int:
    """Cut a torn last record (a writer killed mid-line) off a journal file; returns the bytes cut.

    Optuna skips a torn last line when reading, but the next record appended would be glued
    to it and the study could no longer be read. The cut bytes are kept in ``<path>.torn``.
    Done under the journal's own lock, so a record being written right now is left alone.
    """
    from optuna.storages.journal import JournalFileSymlinkLock

    if not path.exists() or path.stat().st_size == 0:
        return 0
    lock = JournalFileSymlinkLock(str(path))
    while not lock.acquire():
        time.sleep(0.01)
    try:
        raw = path.read_bytes()
        lines = raw.splitlines(keepends=True)
        keep = len(raw)
        while lines and not _complete_record(lines[-1]):
            keep -= len(lines.pop())
        bad = next((i for i, line in enumerate(lines) if not _complete_record(line)), None)
        if bad is not None:
            raise ConfigError(f"{path}: record {bad + 1} of {len(lines)} is corrupt, not just the last one; "
                              "restore the file from a backup, or delete it to start the study afresh")
        if keep < len(raw):
            with open(path.with_name(path.name + ".torn"), "ab") as torn:
                torn.write(raw[keep:] + b"\n")
            with open(path, "r+b") as f:
                f.truncate(keep)
                os.fsync(f.fileno())
        return len(raw) - keep
    finally:
        lock.release()


def _complete_record(line: bytes) -> bool:
    if not line.endswith(b"\n"):
        return False
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False


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
