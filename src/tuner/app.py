"""The wiring: the one module that holds the whole config. It validates it, turns it into typed
sections once (``tuner.config.to_settings``) and hands each stage its own part: the runner a ``Plan``,
the export an ``ExportPlan``, the study stage a ``StudyRef``.

``tuner.cli`` (the commands) and the Python API (``tuner.run``, ``tuner.export``) call these functions.

Example::

    from tuner.config import compose
    best = run(compose(["+experiment=digits_cnn", "search.n_trials=2"]))
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import optuna
from omegaconf import DictConfig

from tuner.config import TunerConfig, compose, objectives, to_settings, to_yaml, validate
from tuner.errors import ConfigError, TunerError
from tuner.study import StudyRef

if TYPE_CHECKING:
    from tuner.runner.optimize import Prepared
    from tuner.runner.plan import Plan
    from tuner.runner.replay import Replayed
    from tuner.study.catalog import StudyInfo
    from tuner.submission.export import Submission
    from tuner.submission.plan import ExportPlan
    from tuner.submission.predict import Predictions, PredictPlan
    from tuner.tracking.removal import ExperimentRemoval

log = logging.getLogger("tuner")


@dataclass(frozen=True)
class Deleted:
    """What ``delete_study`` removed: the Optuna study (``study``: False when it was gone already), and with
    ``everything`` what MLflow held (``tracking``) and the experiment's folder (``folder``)."""

    ref: StudyRef
    study: bool
    tracking: ExperimentRemoval | None
    folder: Path | None


def settings(cfg: DictConfig) -> TunerConfig:
    """``cfg`` validated and typed; ``search.n_workers=null`` resolved (``device.trials_per_gpu`` per visible GPU)."""
    from tuner.training.device import default_workers, visible_gpus

    validate(cfg)
    s = to_settings(cfg)
    if s.search.n_workers is None:
        s.search.n_workers = default_workers(s.device.kind, s.device.trials_per_gpu, visible_gpus(os.environ),
                                             s.search.n_trials)
    return s


def trained_settings(cfg: DictConfig) -> TunerConfig:
    """``settings(cfg)`` for a command that trains or loads models, with this process placed on its device and
    its Keras backend (``backend``) set, in that order and before anything imports Keras: the device's
    environment (``CUDA_VISIBLE_DEVICES``, memory caps) must be in place before a backend loads, and setting
    the backend loads Keras (a ConfigError naming the package to install if it is missing). Worker processes
    pick their own GPU again (``configure`` keeps the full list)."""
    from tuner.training.device import configure, load_backend

    s = settings(cfg)
    configure(s.device)
    load_backend(s.backend)
    return s


def study_ref(cfg: DictConfig | TunerConfig) -> StudyRef:
    """The study ``cfg`` names, and where it lives."""
    return StudyRef(cfg.name, str(cfg.experiments_dir), cfg.search.storage)


def plan(cfg: DictConfig, overrides: list[str] | None = None) -> Plan:
    """The runner's part of ``cfg``; ``overrides`` (the command line's) go into every trial's replay command."""
    from tuner.runner.plan import Plan

    s = trained_settings(cfg)
    return Plan(study=study_ref(s), search=s.search, data=s.data, device=s.device, tracking=s.tracking, seed=s.seed,
                model=s.model, sampler=s.sampler, pruner=s.pruner, overrides=list(overrides or []),
                config_yaml=to_yaml(cfg), backend=s.backend)


def export_plan(cfg: DictConfig) -> ExportPlan:
    """The export's part of ``cfg``."""
    from tuner.submission.plan import ExportPlan

    s = trained_settings(cfg)
    return ExportPlan(study=study_ref(s), options=s.export, data=s.data, seed=s.seed, tracking_uri=s.tracking.uri,
                      device=s.device, model=s.model, metric=objectives(s.search)[0][0],
                      flush_timeout=s.tracking.flush_timeout)


def prepare(cfg: DictConfig) -> Prepared:
    """Every check of ``cfg`` that needs no data (see ``tuner.runner.optimize.prepare``)."""
    from tuner.runner.optimize import prepare as prepare_plan

    return prepare_plan(plan(cfg))


def run_study(cfg: DictConfig, overrides: list[str] | None = None) -> float | None:
    """Run (or resume) the study ``cfg`` describes to its budget; the best value so far, None if no trial completed."""
    p = plan(cfg, overrides)  # places the device and sets the Keras backend: the runner (which loads Keras) after it
    from tuner.runner.loop import run_study as run_plan

    return run_plan(p)


def run(cfg: DictConfig, overrides: list[str] | None = None) -> float:
    """``run_study``, which must complete a trial: what ``python -m tuner`` runs."""
    best = run_study(cfg, overrides)
    if best is None:
        raise TunerError(
            f"no trial completed in study {cfg.name} (search.timeout={cfg.search.timeout}, search.n_trials="
            f"{cfg.search.n_trials}): nothing to export; give a budget that fits at least one whole trial "
            "(raise search.timeout) and see the log for pruned or failed trials")
    log.info("best %s: %s", objectives(cfg.search)[0][0], best)
    return best


def export(cfg: DictConfig) -> Submission:
    """Write the submission CSV of the study ``cfg`` describes (see ``tuner.submission.export.export``)."""
    p = export_plan(cfg)  # places the device and sets the Keras backend before the export (which loads Keras)
    from tuner.submission.export import export as export_submission

    return export_submission(p)


def predict_plan(cfg: DictConfig) -> PredictPlan:
    """What ``tuner.predict`` needs of ``cfg``: the experiment, its data section, the ``predict`` options."""
    s = trained_settings(cfg)  # the Keras backend first: tuner.submission.predict loads Keras
    from tuner.submission.predict import PredictPlan

    return PredictPlan(s.name, s.data, s.predict, s.tracking.uri, study_ref(s).folder)


def predict(cfg: DictConfig) -> Predictions:
    """Label new images with the submitted model of ``cfg``'s experiment (``tuner.submission.predict``).

    Example::

        predict(compose(["+experiment=images_cnn", "predict.input=new_photos"])).path
    """
    p = predict_plan(cfg)  # places the device and sets the Keras backend before tuner.submission.predict loads Keras
    from tuner.submission.predict import predict_images

    return predict_images(p)


def leaderboard(cfg: DictConfig) -> str:
    """The first ``leaderboard.top`` trials of the study ``cfg`` describes, as a table for a terminal.

    Example::

        print(leaderboard(compose(["+experiment=digits_cnn", "leaderboard.top=5"])))
    """
    from tuner.study import open_study
    from tuner.study.ranking import leaderboard_table

    s = settings(cfg)
    if s.leaderboard.top < 1:
        raise ConfigError(f"leaderboard.top={s.leaderboard.top}: show at least 1 row")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return leaderboard_table(open_study(study_ref(s)), s.name, s.leaderboard.top)


def replay(cfg: DictConfig, number: int) -> Replayed:
    """Retrain trial ``number`` of the study ``cfg`` describes, once, and compare its values."""
    from tuner.runner.replay import Replayed, replayable, replayed_value
    from tuner.study.records import REPLAY, replay_overrides

    validate(cfg)
    original = replayable(study_ref(cfg), number)
    overrides = replay_overrides(original.user_attrs[REPLAY])
    again = compose(overrides)
    run_study(again, overrides)
    return Replayed(number, objectives(cfg.search)[0][0], original.values[0], replayed_value(study_ref(again), number),
                    again.name)


def join_study(cfg: DictConfig) -> optuna.Study:
    """The study ``cfg`` describes, created if it does not exist yet (what a run opens before its first trial).

    Its data is not loaded: of what the study was trained on, only the config's parts are checked."""
    from tuner.config import user_builder
    from tuner.search import parse_space
    from tuner.study import join_study as join
    from tuner.study import trained_on

    p = plan(cfg)
    return join(p.study, p.goals, parse_space(p.search.space, user_builder=user_builder(p.model) is not None), trained=trained_on(p.data, p.seed, p.model))[0]


def studies(cfg: DictConfig) -> list[StudyInfo]:
    """Every study in the journals under ``experiments_dir``, and in ``search.storage`` when given.

    Example::

        [s.name for s in studies(compose(["experiments_dir=experiments"]))]  # ['digits_cnn', ...]
    """
    from tuner.study.catalog import find_studies

    s = settings(cfg)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return find_studies(str(s.experiments_dir), s.search.storage)


def delete_study(cfg: DictConfig, name: str, everything: bool = False) -> Deleted:
    """Delete the Optuna study ``name`` (where ``cfg``'s ``experiments_dir`` and ``search.storage`` say it lives),
    so that ``name=<name>`` starts afresh; with ``everything`` also its MLflow experiment, runs and registered
    model (at ``tracking.uri``) and the folder ``experiments_dir/<name>/``."""
    import shutil

    from tuner.study.catalog import delete_study as delete
    from tuner.study.catalog import has_study, unknown_study

    s = settings(cfg)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    ref = StudyRef(name, str(s.experiments_dir), s.search.storage)
    folder = Path(s.experiments_dir) / name
    study = has_study(ref)
    if study:
        delete(ref)
    elif not (everything and folder.is_dir()):  # a study deleted before without --all: what is left goes now
        raise unknown_study(ref)
    if not everything:
        return Deleted(ref, study, None, None)
    from tuner.submission.export import registry_name  # imports Keras: only here
    from tuner.tracking.removal import delete_experiment

    removal = delete_experiment(s.tracking.uri, name, registry_name(name))
    removed = folder if folder.is_dir() else None
    if removed is not None:
        shutil.rmtree(removed)
    return Deleted(ref, study, removal, removed)
