"""Replay pruners on learning curves that ran to the end: what would each have stopped, and what did it cost?

    .venv/bin/python bench/research/prune_replay.py WORKDIR [WORKDIR ...] [--pruner none --pruner median ...]

Reads every tuner study (``study.journal``) under the workdirs (``bench.vs_kerastuner --workdir``
races, or any experiments folder) and keeps, per study, the trials whose curve is whole: every epoch
reported, so the outcome had they not been pruned is known. Each ``--pruner`` (a ``conf/pruner``
config, ``name:key=value,...`` to override its keys) then sees those curves again, in the study's
trial order, through a real Optuna study: each epoch's value is reported and ``should_prune`` asked,
as in a tuner trial. Printed per pruner, summed over the studies:

- trials stopped, and seconds spent (each trial's recorded seconds per epoch times the epochs it ran)
  as a share of running every trial to the end;
- stopped winners: studies whose best trial (best epoch, tuner's ``restore_best`` score) it stopped;
- the mean loss of best score against running every trial to the end.

The replay keeps the recorded order of trials. In a real search a stop changes what a model-based
sampler proposes next, and the seconds saved buy more trials; neither is replayed here, so read the
seconds share as the time a pruner frees and the loss as what it pays for it.
"""

from __future__ import annotations

import argparse
import glob
import os
import sys
from dataclasses import dataclass

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))  # the repo root

import optuna  # noqa: E402

from bench.research.sampler_sim import journal_trials, make_pruner  # noqa: E402
from tuner.errors import ConfigError  # noqa: E402

COMPLETE, PRUNED = optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED


@dataclass
class Curve:
    """One whole learning curve: the value per epoch and the seconds one epoch took."""

    values: list[float]
    seconds_per_epoch: float


@dataclass
class Replay:
    """What one pruner did to one study's curves."""

    stopped: int
    seconds: float
    full_seconds: float
    best: float
    full_best: float
    stopped_winner: bool


def whole_curves(workdir: str) -> list[list[Curve]]:
    """Per study under ``workdir``, its trials that reported every epoch (as many as the study's longest
    trial: with a searched ``epochs``, shorter trials are left out), in trial order."""
    studies = []
    for journal in sorted(glob.glob(f"{workdir}/**/study.journal", recursive=True)):
        trials = sorted(journal_trials(journal, (COMPLETE, PRUNED)), key=lambda t: t.number)
        epochs = max((len(t.intermediate_values) for t in trials), default=0)
        curves = []
        for t in trials:
            steps = sorted(t.intermediate_values)
            ran, seconds = t.user_attrs.get("epochs_run"), t.user_attrs.get("seconds")
            if len(steps) == epochs and steps == list(range(epochs)) and ran and seconds:
                curves.append(Curve([t.intermediate_values[s] for s in steps], seconds / ran))
        if len(curves) >= 2:
            studies.append(curves)
    return studies


def replay(curves: list[Curve], pruner_spec: str) -> Replay:
    """Run ``curves`` in order through a fresh in-memory study with the pruner ``pruner_spec``."""
    study = optuna.create_study(direction="maximize", pruner=make_pruner(pruner_spec),
                                sampler=optuna.samplers.RandomSampler(seed=0))
    stopped, seconds, best, winner_stopped = 0, 0.0, float("-inf"), False
    full_best = max(max(c.values) for c in curves)
    for curve in curves:
        trial = study.ask()
        for step, value in enumerate(curve.values):
            trial.report(value, step)
            if step + 1 < len(curve.values) and trial.should_prune():
                break
        ran = step + 1
        seconds += ran * curve.seconds_per_epoch
        if ran < len(curve.values):
            stopped += 1
            winner_stopped |= max(curve.values) == full_best
            study.tell(trial, state=PRUNED)
        else:
            best = max(best, max(curve.values))
            study.tell(trial, max(curve.values))
    full_seconds = sum(len(c.values) * c.seconds_per_epoch for c in curves)
    return Replay(stopped, seconds, full_seconds, best, full_best, winner_stopped)


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench/research/prune_replay.py", description=__doc__.split("\n")[0])
    parser.add_argument("workdirs", nargs="+", help="folders holding tuner studies (study.journal) run to the end")
    parser.add_argument("--pruner", action="append", help="a conf/pruner config, name:key=value,... (repeatable)")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    specs = args.pruner or ["none", "median"]
    for spec in specs:  # refuse a bad --pruner before reading anything
        try:
            make_pruner(spec)
        except (ConfigError, TypeError) as err:
            raise SystemExit(f"--pruner {spec}: {err}\ngive a file name of conf/pruner/ with optional "
                             "key=value overrides of its keys, e.g. median:n_warmup_steps=2") from None
    studies = [s for w in args.workdirs for s in whole_curves(w)]
    if not studies:
        raise SystemExit(f"no study with two or more whole curves under {', '.join(args.workdirs)}: give the "
                         "workdirs of searches that ran (most of) their trials to the end, e.g. with pruner=none")
    n = sum(len(s) for s in studies)
    lengths = sorted({len(s[0].values) for s in studies})
    span = f"{lengths[0]}-{lengths[-1]}" if len(lengths) > 1 else f"{lengths[0]}"
    print(f"{len(studies)} studies, {n} whole curves of {span} epochs")
    print(f"{'pruner':<40} {'stopped':>8} {'seconds':>8} {'winner stopped':>15} {'best lost':>10}")
    for spec in specs:
        runs = [replay(s, spec) for s in studies]
        stopped = sum(r.stopped for r in runs)
        share = sum(r.seconds for r in runs) / sum(r.full_seconds for r in runs)
        winners = sum(r.stopped_winner for r in runs)
        lost = sum(r.full_best - r.best for r in runs) / len(runs)
        print(f"{spec:<40} {stopped:>4}/{n:<3} {share:>8.0%} {winners:>9}/{len(runs):<5} {lost:>10.4f}")


if __name__ == "__main__":
    main()
