"""The study loop: prepare, open (or resume) the study and its parent run, enqueue the planned trials,
then run trials here or in worker processes until the budget is reached; summarize at the end.

Example::

    best = run_study(app.plan(compose(["+experiment=digits_cnn", "search.n_trials=2"])))
"""

from __future__ import annotations

import gc
import logging

import optuna

from tuner.data import load_dataset
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
from tuner.study import best_completed
from tuner.study.records import ENQUEUED, TAG_BACKEND, TAG_KIND, TAG_STUDY, WARM_START_TRIALS
from tuner.tracking.report import summarize

log = logging.getLogger("tuner")


def run_study(plan: Plan) -> float | None:
    """Run (or resume) the plan's study to its budget; returns the best value so far.

    With ``search.n_workers`` > 1 (or ``search.trials_per_worker`` set) the trials run in
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
            elif plan.search.n_workers > 1 or plan.search.trials_per_worker:
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
        summarize(study, tracker, parent_id, plan.study.folder, plan.config_yaml, plan.metric)
        close_parent(study, tracker, parent_id, status)
        log.info("the trials in MLflow: %s", tracker.ui_link())
    best = best_completed(study)
    return best[0].values[0] if best else None


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
