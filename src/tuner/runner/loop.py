"""The study loop: prepare, open (or resume) the study and its parent run, enqueue the planned trials,
then run trials here or in worker processes until the budget is reached; summarize at the end.

Example::

    best = run_study(app.plan(compose(["+experiment=digits_cnn", "search.n_trials=2"])))
"""

from __future__ import annotations

import gc
import logging
import sys
from contextlib import contextmanager
from typing import Iterator

import optuna

from tuner.data import load_dataset
from tuner.errors import disk_full
from tuner.runner.coordinate import (
    agree_parent,
    close_parent,
    interrupts_once,
    reap,
    sweep_runs,
)
from tuner.runner.objective import Context, dataset_of
from tuner.runner.optimize import budget_reached, open_tracked, optimize, prepare
from tuner.runner.plan import Plan
from tuner.search import Param
from tuner.study import best_completed, finished_count
from tuner.study.records import ENQUEUED, TAG_BACKEND, TAG_KIND, TAG_STUDY, WARM_START_TRIALS
from tuner.tracking.report import summarize

log = logging.getLogger("tuner")


def run_study(plan: Plan) -> float | None:
    """Run (or resume) the plan's study to its budget; returns the best value so far.

    With ``search.n_workers`` > 1, or more trials left than ``search.trials_per_worker``, the trials run in
    worker processes (``tuner.runner.workers``); this process opens the study and its parent run, then waits.
    """
    prepared = prepare(plan)
    data = load_dataset(plan.data, plan.seed)  # a data error stops the run before anything is tracked
    prepared.check_builder(data)  # a user's builder that cannot build its model stops the run here too
    study, created, tracker = open_tracked(plan, prepared, data)  # refused if trained on other data: before training
    name = plan.study.name
    reap(study, tracker)  # trials left RUNNING by a crashed run: FAIL, their runs KILLED
    tags = {TAG_STUDY: name, TAG_KIND: "study", TAG_BACKEND: plan.backend}
    parent_id = agree_parent(study, created, tracker, f"study-{name}", tags=tags)
    sweep_runs(study, tracker, parent_id)
    tracker.log_dataset(parent_id, dataset_of(plan, data))
    enqueue(study, plan, prepared.space)
    status = "FAILED"
    try:
        with interrupts_once():
            if budget_reached(study, plan):
                pass
            elif in_workers(study, plan):
                from tuner.runner.workers import run_workers

                run_workers(plan, parent_id, study, tracker)
            else:
                ctx = Context(plan, prepared.space, data, tracker, parent_id, builder=prepared.builder)
                gc.freeze()  # what is loaded now lives all run: keep it out of the per-trial collections
                optimize(study, ctx)
        status = "FINISHED"
    except KeyboardInterrupt:
        status = "KILLED"
        raise
    finally:
        with unless_disk_full("the leaderboard and study plots"):
            summarize(study, tracker, parent_id, plan.study.folder, plan.config_yaml, plan.metric)
        with unless_disk_full(f"closing the parent run {parent_id}"):
            close_parent(study, tracker, parent_id, status)
        with unless_disk_full("sending the tracking calls kept in the spool"):
            tracker.finish(plan.tracking.flush_timeout)
        log.info("the trials in MLflow: %s", tracker.ui_link())
    best = best_completed(study)
    return best[0].values[0] if best else None


@contextmanager
def unless_disk_full(what: str) -> Iterator[None]:
    """While the run is already stopping on an error (the journal's disk is full), a full disk that stops
    ``what`` too is one warning: the run ends with the error that stopped it, not this one."""
    stopping = sys.exc_info()[1] is not None
    try:
        yield
    except Exception as err:
        full = disk_full(err)
        if not stopping or full is None:
            raise
        log.warning("%s: not done, the disk is full (%s)", what, full or type(err).__name__)


def in_workers(study: optuna.Study, plan: Plan) -> bool:
    """Whether the trials run in worker processes: several of them, or one that is replaced every
    ``search.trials_per_worker`` trials because more trials are left than that (a process that will not
    reach that count runs its trials here, with no worker to start)."""
    per_worker = plan.search.trials_per_worker
    return plan.search.n_workers > 1 or (per_worker is not None and
                                         plan.search.n_trials - finished_count(study) > per_worker)


def enqueue(study: optuna.Study, plan: Plan, space: dict[str, Param]) -> None:
    """Enqueue ``search.enqueue``, then the warm-start trials (``search.warm_start``), once per study (a rerun
    does not enqueue them again; the warm-start trials are picked once and kept on the study)."""
    items = list(plan.search.enqueue)
    if plan.search.warm_start and WARM_START_TRIALS not in study.user_attrs:
        from tuner.study.warmstart import source_ref, warm_trials

        source = source_ref(plan.study, plan.search.warm_start, plan.search.warm_start_storage)
        study.set_user_attr(WARM_START_TRIALS, warm_trials(source, plan.search.warm_start_top, space))
    items += study.user_attrs.get(WARM_START_TRIALS, [])
    done = int(study.user_attrs.get(ENQUEUED, 0))
    for params in items[done:]:
        study.enqueue_trial(dict(params), skip_if_exists=True)
    if len(items) > done:
        study.set_user_attr(ENQUEUED, len(items))
