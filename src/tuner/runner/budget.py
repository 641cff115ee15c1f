"""The budget plan: with ``search.timeout`` set, size what is still planned to this machine's speed and the time
left (issue 23; why and how: docs/decisions/budget-plan.md).

An experiment plans work in trials of a given number of epochs: its enqueued configurations (``search.enqueue``,
the members ``export.ensemble`` averages), and with ``sampler=priorband`` its rungs. Tuned on one machine, that
plan overruns the clock on a slower one: trials cut at the deadline are lost, and an ensemble has fewer members.
So when a trial begins, the plan is checked against the time left, with the speed measured on this machine:

- **Planned trials** (this enqueued trial and those still waiting, run ``search.n_workers`` at a time): if they
  do not fit at their epochs, each trains fewer, down to ``search.budget_min_share`` of them; if even that does
  not fit all of them, the last ones are dropped (each is pruned when its turn comes, with the reason), so that
  those that run finish inside the time.
- **A searched trial** (not enqueued; not a priorband rung): trains fewer epochs when its own would not finish in
  the time left, down to the same share; below that it does not start, and the search ends (no trial is cut off
  half-trained at the deadline: that time goes to the export).
- **Priorband rungs**: a full trial's epochs are capped once, at the first trial with a steady measured speed
  (from an epoch after the first: a one-epoch rung-0 trial's includes tracing the model), so that one bracket
  (``eta`` ** (``rungs`` - 1) rung-0 trials, then their promotions: ``rungs`` full trials' worth of training)
  fits the time left; the rungs then follow from the full epochs as always. Then each rung trial is checked
  against the time left at its own configuration's speed (the one its lower rung measured; the study's before a
  configuration has one): a full trial trains fewer epochs to finish, down to the same share; a full trial that
  would still not finish, or a lower rung that would not finish its budget, does not start, and the search ends
  (a rung cut at the deadline counts for nothing).

A trial's learning-rate schedule spans the epochs it trains, so a shortened trial is a complete, shorter
training: its value is honest and its replay command names its epochs. Speed is seconds per training image of an
epoch (its validation included) and seconds of a trial outside its epochs, the medians over this study's finished
trials. Before any trial has measured it, the first trial of a plan of several measures it on its first
``PROBE_EPOCHS`` epochs, held back from MLflow and the pruner until the plan is made: if the trial must train
fewer epochs, it starts again with them (``Replan``), so those epochs are the price of measuring. Later, each
enqueued trial, and each searched trial the plan cut, checks its own speed the same way: a configuration can
train slower than the study's latest trials (a wider model, a busier machine), and one planned at their speed
would then be cut at the deadline. More than ``SLOWER`` slower, it is planned again at its own speed from the
epochs first asked, and starts again only when its epochs no longer fit.

Example::

    fit_plan(asked=20, planned=4, workers=1, seconds_left=58 * 60, epoch_s=61, overhead_s=20, min_share=0.5)
    # Fit(epochs=12, trials=4, reason="...")
"""

from __future__ import annotations

import logging
import math
import statistics
import time
from dataclasses import dataclass
from typing import Any, Sequence

import optuna

from tuner.search.priorband import PROMOTED_FROM

log = logging.getLogger(__name__)

SECONDS_PER_IMAGE = "tuner.seconds_per_image"  # trial user attr: seconds an epoch takes per training image
OVERHEAD = "tuner.overhead_s"  # trial user attr: the trial's seconds outside its epochs (build, trace, log, save)
STEADY = "tuner.speed_steady"  # trial user attr: its speed is an epoch after the first (False: one epoch, tracing in)
ASKED_EPOCHS = "tuner.asked_epochs"  # trial user attr: the epochs the configuration asked for, when the plan cut them
BUDGET_NOTE = "tuner.budget_plan"  # trial user attr: what the plan did to this trial and why
FULL_EPOCHS_CAP = "tuner.full_epochs_cap"  # study user attr (priorband): the cap on a full trial's epochs, once set
PROBE_EPOCHS = 2  # with no speed measured yet, a planned trial's first epochs measure it (the second is steady)
SPEED_TRIALS = 5  # the speed is the median over this many of the latest finished trials
SLOWER = 1.1  # a planned trial's own first steady epoch re-plans it when it is this much slower than the study's
SAFETY = 0.9  # plans fit in this share of the time left: a planned trial that overran would be cut at the deadline


@dataclass(frozen=True)
class Fit:
    """What a plan gives: epochs per planned trial (None: no trial fits), how many of the planned trials run."""

    epochs: int | None
    trials: int
    reason: str

    @property
    def changed(self) -> bool:
        return self.reason != ""


@dataclass(frozen=True)
class Speed:
    seconds_per_image: float
    overhead_s: float

    def epoch_s(self, images: int) -> float:
        return self.seconds_per_image * images


def fit_plan(asked: int, planned: int, workers: int, seconds_left: float, epoch_s: float, overhead_s: float,
             min_share: float) -> Fit:
    """The epochs (at most ``asked``, at least ``min_share`` of it) for ``planned`` trials run ``workers`` at a
    time to finish in ``SAFETY`` of ``seconds_left``; fewer trials when not all fit even at that floor."""
    usable = seconds_left * SAFETY

    def rounds(n: int) -> int:
        return math.ceil(n / max(1, workers))

    def need(epochs: int, n: int) -> float:
        return rounds(n) * (epochs * epoch_s + overhead_s)

    if need(asked, planned) <= usable:
        return Fit(asked, planned, "")
    floor = max(1, math.ceil(min_share * asked))
    for n in range(planned, 0, -1):
        epochs = min(asked, math.floor((usable / rounds(n) - overhead_s) / epoch_s))
        if epochs >= floor:
            what = f"{planned} planned trial{'s' if planned > 1 else ''}"
            dropped = f", and {planned - n} of them dropped" if n < planned else ""
            return Fit(epochs, n, f"{what} of {asked} epochs need{'s' if planned == 1 else ''} about {need(asked, planned) / 60:.1f} min at "
                                  f"{epoch_s:.1f} s an epoch, {seconds_left / 60:.1f} min are left: {epochs} epochs "
                                  f"each{dropped} (search.budget_min_share={min_share} keeps at least {floor})")
    return Fit(None, 0, f"a trial of at least {floor} of its {asked} epochs needs about "
                        f"{need(floor, 1) / 60:.1f} min at {epoch_s:.1f} s an epoch, {seconds_left / 60:.1f} min are "
                        f"left (search.budget_min_share={min_share})")


def bracket_cap(eta: int, rungs: int, workers: int, seconds: float, epoch_s: float, overhead_s: float) -> int:
    """The most epochs (at least 1) a full priorband trial may train for one bracket to fit ``SAFETY`` of
    ``seconds`` on ``workers``: ``eta**(rungs-1)`` rung-0 configurations and their promotions, ``rungs`` full
    trials' worth of epochs in all, one overhead per trial."""
    trials = sum(eta ** i for i in range(rungs))
    epochs = math.floor((seconds * SAFETY * max(1, workers) - trials * overhead_s) / (rungs * epoch_s))
    return max(1, epochs)


def measured_speed(trials: Sequence[Any], steady: bool = False) -> Speed | None:
    """The medians of the latest finished trials' measured speed, None before any trial measured it; ``steady``:
    of trials that measured it on an epoch after the first only (a one-epoch trial's epoch includes tracing the
    model, several times a steady epoch's seconds on a small model)."""
    done = [t for t in trials if SECONDS_PER_IMAGE in t.user_attrs
            and (not steady or t.user_attrs.get(STEADY, True))][-SPEED_TRIALS:]
    if not done:
        return None
    return Speed(statistics.median(float(t.user_attrs[SECONDS_PER_IMAGE]) for t in done),
                 statistics.median(float(t.user_attrs.get(OVERHEAD, 0.0)) for t in done))


def promoted_speed(trials: Sequence[Any], source: int | None) -> Speed | None:
    """The speed trial number ``source`` measured (the lower rung a priorband trial promotes), None if it has none:
    a configuration's own speed, since a wide model trains slower than the study's median."""
    if source is None:
        return None
    measured = [t for t in trials if t.number == source and SECONDS_PER_IMAGE in t.user_attrs]
    return measured_speed(measured)


def epoch_speed(epoch_ends: Sequence[float], fit_start: float, images: int) -> float:
    """Seconds per training image of one epoch: the mean epoch after the first (which also traces the model),
    the first alone when it is the only one. The mean, since a plan budgets a sum of epochs."""
    times = [b - a for a, b in zip([fit_start, *epoch_ends], epoch_ends)]
    steady = times[1:] or times
    return statistics.fmean(steady) / max(1, images)


class BudgetedTrial:
    """The budget plan's part of a trial (``tuner.runner.objective.TrialRunner`` is one): its epochs sized to the
    time left when it begins, or after its first epochs measured the machine; its measured speed when it ends."""

    def __init__(self) -> None:
        self.fit_start: float | None = None
        self.epoch_ends: list[float] = []  # time.perf_counter() at each epoch's end: this machine's speed
        self.train_images = 0
        self.no_time = ""  # the budget plan's reason when no trial fits the time left
        self.probe: list[tuple[int, dict[str, float]]] | None = None  # epochs held back while they measure the machine
        self.planned = 1  # the trials this one's budget plan is for (itself and the enqueued ones waiting)
        self.planned_speed: Speed | None = None  # the study's speed its plan was made at, when it checks its own
        self.probe_seconds = 0.0  # the measuring epochs' time, when the trial then started again with fewer

    def plan_budget(self) -> None:
        """With ``search.timeout`` set, size this trial's epochs to the time left (the rules above)."""
        search, deadline = self.plan.search, self.ctx.deadline
        if deadline is None or not search.budget_plan:
            return
        study, trial = self.trial.study, self.trial
        trials = study.get_trials(deepcopy=False)
        speed = measured_speed(trials)
        seconds_left = (deadline - time.monotonic())
        workers, images = search.n_workers or 1, len(self.ctx.data.x_train)
        if self.rung is not None:  # priorband: cap a full trial's epochs once (one bracket fits), fit this rung
            cap, steady = study.user_attrs.get(FULL_EPOCHS_CAP), measured_speed(trials, steady=True)
            if cap is None and steady is not None:
                cap = bracket_cap(self.rung.eta, self.rung.count, workers, seconds_left,
                                  steady.epoch_s(images), steady.overhead_s)
                study.set_user_attr(FULL_EPOCHS_CAP, cap)
                log.info("budget plan: one priorband bracket fits full trials of at most %d epochs in the %.1f min "
                         "left at %.1f s an epoch%s", cap, seconds_left / 60, steady.epoch_s(images),
                         "" if cap >= self.full_epochs else f": full trials train {cap} epochs, not {self.full_epochs}")
            if cap is not None and int(cap) < self.full_epochs:
                self.cut_epochs(self.full_epochs, int(cap), f"one priorband bracket fits full trials of {cap} epochs")
                self.full_epochs = int(cap)
            own = promoted_speed(trials, self.trial.user_attrs.get(PROMOTED_FROM)) or steady or speed
            if own is not None:
                self.fit_rung(seconds_left, own, images, search.budget_min_share)
            return
        asked = int(self.hp["epochs"])
        enqueued = bool(study._storage.get_trial(trial._trial_id).system_attrs.get("fixed_params"))
        planned = 1 + sum(t.state == optuna.trial.TrialState.WAITING for t in trials) if enqueued else 1
        if speed is None:
            if planned > 1 and asked > PROBE_EPOCHS:  # measure on this trial's first epochs, then decide
                self.probe = []
                self.planned = planned
            return  # else a searched trial runs as asked; its epochs measure the machine for the next ones
        fit = fit_plan(asked, planned, workers, seconds_left, speed.epoch_s(images), speed.overhead_s,
                       search.budget_min_share)
        self.apply(fit)
        if fit.epochs is not None and (enqueued or fit.changed) and fit.epochs > PROBE_EPOCHS:
            self.probe, self.planned, self.planned_speed = [], planned, speed  # check its own speed, then go on

    def fit_rung(self, seconds_left: float, speed: Speed, images: int, min_share: float) -> None:
        """Size this priorband rung trial to the time left at ``speed``: a full trial trains fewer epochs down to
        ``min_share`` of them; a rung that does not fit does not start (``no_time``)."""
        rung = self.rung
        assert rung is not None
        if rung.full:
            fit = fit_plan(self.full_epochs, 1, 1, seconds_left, speed.epoch_s(images), speed.overhead_s, min_share)
            if fit.epochs is None:
                self.no_time = f"{rung.describe()}: {fit.reason}"
            elif fit.changed:
                self.cut_epochs(self.full_epochs, fit.epochs, f"{rung.describe()}: {fit.reason}")
                self.full_epochs = fit.epochs
            return
        epochs = rung.epochs(self.full_epochs)
        epoch_s = speed.epoch_s(round(images * rung.data_fraction(self.full_epochs)))
        need = epochs * epoch_s + speed.overhead_s
        if need > seconds_left * SAFETY:
            self.no_time = (f"{rung.describe()} of {epochs} epoch{'s' if epochs > 1 else ''} needs about "
                            f"{need / 60:.1f} min at {epoch_s:.1f} s an epoch, {seconds_left / 60:.1f} min are left")

    def apply(self, fit: Fit) -> None:
        """Train the epochs ``fit`` gives (none fits: the trial is pruned and the search ends)."""
        if fit.epochs is None:
            self.no_time = fit.reason
        elif fit.changed:
            self.cut_epochs(int(self.hp["epochs"]), fit.epochs, fit.reason)
            self.hp["epochs"] = fit.epochs

    def end_probe(self) -> None:
        """The first epochs measured this machine: plan this trial and the planned ones after it, open the run.
        Raises ``Replan`` when this trial must train fewer epochs (it starts again, its schedule spanning
        them: the measured epochs are not logged).

        A trial planned at the study's speed checks its own here (the study's unless its own is ``SLOWER``). It
        goes on when its epochs still fit, the epochs it has trained counting as time it has; else it starts
        again with the epochs a plan from now gives (never more than it trains)."""
        ends, started = self.epoch_ends, self.fit_start
        per_image = epoch_speed(ends, started, self.train_images)
        epoch_s = per_image * self.train_images
        overhead = (started - self.started) + max(0.0, (ends[0] - started) - epoch_s)  # build, then tracing
        seconds_left = (self.ctx.deadline - time.monotonic())
        epochs = int(self.hp["epochs"])
        asked = int(self.trial.user_attrs.get(ASKED_EPOCHS, epochs))
        study = self.planned_speed
        if study is not None:  # the end of a trial (logging, saving) is in the study's overhead, not in the probe's
            slower = epoch_s > SLOWER * study.epoch_s(self.train_images)  # else within one epoch's noise
            if slower:
                log.info("budget plan: trial %d trains slower than the study's latest trials: %.2f s an epoch of "
                         "%d images on its first %d epochs, against %.2f s", self.trial.number, epoch_s,
                         self.train_images, len(ends), study.epoch_s(self.train_images))
            else:
                epoch_s = study.epoch_s(self.train_images)
            overhead = max(overhead, study.overhead_s)
        else:
            log.info("budget plan: trial %d measured this machine on its first %d epochs: %.1f s an epoch of %d "
                     "images", self.trial.number, len(ends), epoch_s, self.train_images)
        workers, min_share = self.plan.search.n_workers or 1, self.plan.search.budget_min_share
        go_on = fit_plan(asked, self.planned, workers, seconds_left + len(ends) * epoch_s, epoch_s, overhead, min_share)
        if go_on.epochs is not None and go_on.epochs >= epochs:  # it finishes as planned: its epochs so far count
            self.open_run()
            return
        fit = fit_plan(asked, self.planned, workers, seconds_left, epoch_s, overhead, min_share)  # starting again
        self.probe_seconds = time.perf_counter() - started  # these epochs are trained again: not the trial's speed
        self.apply(fit)
        self.open_run()
        raise Replan(fit.reason)

    def cut_epochs(self, asked: int, epochs: int, reason: str) -> None:
        """Record that the budget plan trains this trial ``epochs`` instead of ``asked``, and why."""
        attrs = self.trial.user_attrs  # a priorband full trial may be cut twice: by the bracket's cap, by the clock
        self.trial.set_user_attr(ASKED_EPOCHS, attrs.get(ASKED_EPOCHS, asked))
        self.trial.set_user_attr(BUDGET_NOTE, "; ".join(filter(None, [attrs.get(BUDGET_NOTE), reason])))
        log.info("trial %d: budget plan: %d epochs instead of %d: %s", self.trial.number, epochs, asked, reason)

    def record_speed(self, seconds: float) -> None:
        """Record this trial's measured speed (``seconds``: its whole time) for the plans of the trials after it."""
        if not self.epoch_ends or self.fit_start is None:
            return
        per_image = epoch_speed(self.epoch_ends, self.fit_start, self.train_images)
        self.trial.set_user_attr(SECONDS_PER_IMAGE, per_image)
        self.trial.set_user_attr(STEADY, len(self.epoch_ends) > 1)
        overhead = seconds - self.probe_seconds - len(self.epoch_ends) * per_image * self.train_images
        self.trial.set_user_attr(OVERHEAD, max(0.0, overhead))


class Replan(Exception):
    """Raised from a trial's epoch hook when the budget plan, having measured the machine on the trial's first
    epochs, cuts its epochs: the trial trains again from the start, its schedule spanning the new epochs."""
