"""One process's share of a study: every check that needs no data (``prepare``), joining the study, and the
trial loop (``optimize``) with its guard against a broken setup. The launching process and every worker
process run the same code.

Example::

    prepared = prepare(plan)
    data = load_dataset(plan.data, plan.seed)
    study, created, tracker = open_tracked(plan, prepared, data)  # refused if the study was trained on other data
    optimize(study, Context(plan, prepared.space, data, tracker, parent_id))
"""

from __future__ import annotations

import logging
import time
from fractions import Fraction
from datetime import datetime
from typing import Any, Callable, NamedTuple

import optuna
from tqdm import tqdm

from tuner.config import instantiate, user_builder
from tuner.data import Dataset, check_source
from tuner.errors import ConfigError, DiskFull, TrialFailed, TunerError
from tuner.models.custom import model_builder, probe
from tuner.runner.coordinate import guard_slot, stale_callback, wait_for_slot
from tuner.runner.objective import Context, make_objective
from tuner.runner.plan import Plan
from tuner.search import Param, check_flip, first_values, misfit_of, parse_space
from tuner.search.priorband import check_setup as check_bands, trial_cost
from tuner.study import finished_count, join_study, trained_on
from tuner.study.ranking import BestSoFar, EndedTrials, end_order
from tuner.study.records import FAIL_REASON, SURPLUS
from tuner.tracking import Tracker

log = logging.getLogger(__name__)


class Prepared(NamedTuple):
    """What ``prepare`` built from the plan before any data is loaded."""

    space: dict[str, Param]
    sampler: optuna.samplers.BaseSampler
    pruner: optuna.pruners.BasePruner
    builder: Callable[..., Any]  # the model plug point: builder(hp, input_shape, n_classes, pixel_mean)

    def check_builder(self, data: Dataset) -> None:
        """Build a user's model once with the space's first values on ``data``'s shape, before the first trial:
        a ConfigError naming ``model.builder`` when it fails or its output does not have ``n_classes`` units."""
        probe(self.builder, first_values(self.space), data.input_shape, data.n_classes, data.pixel_mean)


def prepare(plan: Plan) -> Prepared:
    """Every check that needs no data: the space, the task's source, the enqueued trials, the warm-start
    source, and the sampler, pruner and model builder built from their ``_target_``."""
    space = parse_space(plan.search.space, user_builder=user_builder(plan.model) is not None)
    check_source(plan.data)
    check_flip(space, plan.data.name, plan.data.flip_keeps_label)
    pinned = {name: p.value for name, p in space.items() if p.type == "fixed"}  # e.g. arch, for CNN-only entries
    for i, params in enumerate(plan.search.enqueue):
        misfit = misfit_of({**pinned, **params}, space)
        if misfit:
            raise ConfigError(f"search.enqueue[{i}]: {misfit}; change the value, or widen the space")
    if plan.search.warm_start:
        from tuner.study.warmstart import open_source, source_ref

        open_source(source_ref(plan.study, plan.search.warm_start, plan.search.warm_start_storage))
    sampler = instantiate(plan.sampler, "sampler")
    pruner = instantiate(plan.pruner, "pruner")
    builder = model_builder(plan.model)  # a user's own (model.builder) is imported here: a ConfigError if not
    check_bands(sampler, pruner, len(plan.goals))
    if len(plan.goals) > 1 and not isinstance(pruner, optuna.pruners.NopPruner):
        raise ConfigError(f"a multi-objective study (search.metric={[m for m, _ in plan.goals]}) cannot be pruned: "
                          "Optuna prunes single-objective studies only; add pruner=none")
    return Prepared(space, sampler, pruner, builder)


def open_tracked(plan: Plan, prepared: Prepared, data: Dataset) -> tuple[optuna.Study, bool, Tracker]:
    """Join (or create) the study, refusing one trained on other ``data`` or settings, and connect to its MLflow
    experiment; True when this call created the study."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study, created = join_study(plan.study, plan.goals, prepared.space, prepared.sampler, prepared.pruner,
                                on_stale=stale_callback(plan.tracking.uri, plan.study.name),
                                trained=trained_on(plan.data, plan.seed, plan.model, data))
    return study, created, Tracker(plan.tracking.uri, plan.study.name, spool=plan.study.spool)


def optimize(study: optuna.Study, ctx: Context, progress: bool = True, max_trials: int | None = None) -> bool:
    """Run trials until ``search.n_trials`` are finished (by this and any other worker) or time is up.

    Returns True when it stopped because this process ran ``max_trials`` trials, each counted by its share of a
    full trial's budget (a rung of ``sampler=priorband`` by its budget, any other trial as 1).
    """
    search = ctx.plan.search
    budget, timeout = search.n_trials, search.timeout
    deadline = ctx.deadline = time.monotonic() + timeout if timeout else None
    if budget_reached(study, ctx.plan) or not wait_for_slot(study, budget, ctx.tracker, deadline=deadline):
        return False
    bar = tqdm(total=budget, initial=finished_count(study), desc=ctx.plan.study.name, unit="trial",
               dynamic_ncols=True, disable=not progress)
    failures, best_so_far = FailureGuard(search.max_failures), BestSoFar()
    ran = Fraction(0)

    def reached(ran: Fraction) -> bool:
        return max_trials is not None and ran >= max_trials

    def after_trial(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        nonlocal ran
        if trial.user_attrs.get(SURPLUS):
            return
        ran += trial_cost(trial)
        failures(study, trial)
        bar.update(max(0, finished_count(study) - bar.n))  # counts other workers' trials too
        best = best_so_far(study)
        if best:
            bar.set_postfix({ctx.plan.metric: f"{best.values[0]:.4f}"})
        if ctx.out_of_time or failures.tripped or reached(ran) or not wait_for_slot(study, budget, ctx.tracker, deadline=deadline):
            study.stop()

    try:
        study.optimize(guard_slot(make_objective(ctx), budget, ctx.tracker, deadline), n_trials=None,
                       timeout=timeout, catch=(TrialFailed,), callbacks=[after_trial], gc_after_trial=True)
    except AssertionError as err:  # Optuna 5.0 asserts when the trial's own end cannot be written: say why
        full = _context_of(err, DiskFull)
        if full is None:
            raise
        raise full from None
    finally:
        bar.close()
    failures.raise_if_tripped()
    return reached(ran) and finished_count(study) < budget


def _context_of(err: BaseException, kind: type[BaseException]) -> BaseException | None:
    """The first error of type ``kind`` that ``err`` was raised while handling, if any."""
    seen: set[int] = set()
    while err is not None and id(err) not in seen:
        if isinstance(err, kind):
            return err
        seen.add(id(err))
        err = err.__context__  # type: ignore[assignment]
    return None


def budget_reached(study: optuna.Study, plan: Plan) -> bool:
    done, budget = finished_count(study), plan.search.n_trials
    if done >= budget:
        log.info("study %s has %d finished trials (search.n_trials=%d): nothing to run", plan.study.name, done, budget)
    return done >= budget


class FailureGuard:
    """Stops the study after ``limit`` failed trials in a row: a broken setup should not spin forever.

    Counted over the study's trials in the order they ended, so workers and resumed runs count together.
    Each call reads only the trials that ended since the last one (``EndedTrials``): the failures that
    ended after the last trial that did not fail are the ones in a row.
    """

    def __init__(self, limit: int) -> None:
        self.limit, self.in_a_row, self.last_reason = limit, 0, ""
        self._ended = EndedTrials()
        self._last_ok: tuple[datetime, int] | None = None  # end_order of the last trial that ended and did not fail
        self._failed: list[tuple[datetime, int]] = []  # end_order of the failures that ended after it

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        for t in self._ended.new(study):
            if t.user_attrs.get(SURPLUS):
                continue
            if t.state == optuna.trial.TrialState.FAIL:
                self._failed.append(end_order(t))
            elif self._last_ok is None or end_order(t) > self._last_ok:
                self._last_ok = end_order(t)
        last_ok = self._last_ok
        if last_ok is not None:
            self._failed = [key for key in self._failed if key > last_ok]
        self.in_a_row = len(self._failed)
        if trial.state == optuna.trial.TrialState.FAIL:
            self.last_reason = str(trial.user_attrs.get(FAIL_REASON, "unknown"))
        if self.tripped:
            study.stop()

    @property
    def tripped(self) -> bool:
        return self.in_a_row >= self.limit

    def raise_if_tripped(self) -> None:
        if self.tripped:
            fix = ("Free space on that disk, then rerun the same command to resume" if
                   self.last_reason.startswith("disk full:") else "Fix the space or raise search.max_failures")
            raise TunerError(f"{self.in_a_row} trials failed in a row (search.max_failures={self.limit}); last "
                             f"reason: {self.last_reason}. {fix}.")
