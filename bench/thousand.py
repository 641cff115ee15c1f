"""A study grown to 1,000 trials: opening and resuming it, the sampler's and tuner's time per trial, the summary, the stores' sizes.

    .venv/bin/python bench/thousand.py [checkpoints] [real_trials]

Runs the tiny ``digits_mlp`` study (1 epoch, 500 images) through ``run_study`` with the shipped sampler (TPE)
and pruner. The first checkpoint (default 10) is reached by real trials; the study then grows to each next
checkpoint (default 100, 1000) by trials added straight into its journal (``study.add_trials``), each a copy of
a real trial's record with parameters drawn from that trial's distributions, together with a copy of its
MLflow child run (params, final metrics, tags; no model or artifact), and then ``real_trials`` (default 3)
more real trials run through ``run_study`` to reach it. At each checkpoint it records: the seconds
``optuna.load_study`` takes to open the journal and read every trial (Optuna's replay), the seconds
``run_study`` takes from its call to the first new trial's start (join, reap, parent run, sweep, enqueue),
the sampler's seconds per trial (TPESampler's own methods, timed), tuner's own bookkeeping per trial
(FailureGuard, BestSoFar, finished_count, wait_for_slot), the end-of-run summary (leaderboard, plots:
each plot timed) and the journal and mlflow.db sizes. The figures go to bench/results/thousand-<date>-<time>.json.
"""

from __future__ import annotations

import itertools
import os
import random
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable

import optuna
from _common import save_results, study_cfg

from tuner.app import plan as make_plan
from tuner.study import open_study
from tuner.study.records import HPARAMS, MLFLOW_RUN_ID, SEED, TAG_TRIAL_NUMBER, hparams

SYNTHETIC = "bench_synthetic"  # a user attribute that marks the trials this benchmark added, not ran
OVERRIDES = ("+experiment=digits_mlp", "data.max_samples=500", "search.space.epochs=1", "search.n_workers=1",
             "search.space.width={type:int,low:8,high:32}", "search.space.depth={type:int,low:1,high:2}")
TUNER_STEPS = ("FailureGuard", "BestSoFar", "finished_count", "wait_for_slot")


class Timings:
    """Seconds spent in wrapped functions: per name, a list of call durations (cleared per checkpoint)."""

    def __init__(self) -> None:
        self.calls: dict[str, list[float]] = defaultdict(list)
        self.by_trial: dict[int, float] = defaultdict(float)  # the sampler's seconds, per trial number

    def wrap(self, owner: Any, attr: str, name: str, per_trial: bool = False) -> None:
        original: Callable[..., Any] = getattr(owner, attr)

        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                took = time.perf_counter() - start
                self.calls[name].append(took)
                if per_trial:
                    trial = next(a for a in args if isinstance(a, optuna.trial.FrozenTrial))
                    self.by_trial[trial.number] += took

        setattr(owner, attr, timed)


def instrument(timings: Timings) -> None:
    """Time TPE's own methods, tuner's per-trial bookkeeping and the end-of-run summary, where they are looked up."""
    from tuner.runner import coordinate, loop, optimize
    from tuner.tracking import plots, report

    tpe = optuna.samplers.TPESampler
    for attr in ("sample_relative", "sample_independent"):
        timings.wrap(tpe, attr, "sampler", per_trial=True)
    timings.wrap(optimize.FailureGuard, "__call__", "FailureGuard")
    timings.wrap(optimize.BestSoFar, "__call__", "BestSoFar")
    for name in ("finished_count", "wait_for_slot"):
        timings.wrap(optimize, name, name)
    timings.wrap(coordinate, "wait_for_slot", "wait_for_slot")  # guard_slot's call, before each trial
    timings.wrap(optimize, "join_study", "join_study")
    timings.wrap(loop, "summarize", "summarize")
    timings.wrap(report, "leaderboard", "leaderboard")
    timings.wrap(report, "log_study_plots", "plots")
    original_draw = plots._draw

    def draw(name: str, *args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return original_draw(name, *args, **kwargs)
        finally:
            backend = "html" if args and getattr(args[-1], "__name__", "").endswith("visualization") else "png"
            timings.calls[f"plot {name} ({backend})"].append(time.perf_counter() - start)

    plots._draw = draw


def grow(study: optuna.Study, to: int, tracker: Any, seed: int) -> float:
    """Add copies of the study's real completed trials (and of their MLflow runs) until it holds ``to`` trials;
    returns the seconds it took."""
    start = time.perf_counter()
    from mlflow.entities import Metric, Param

    client = tracker.client
    templates = [t for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
                 if not t.user_attrs.get(SYNTHETIC)]
    runs = {t.number: client.get_run(str(t.user_attrs[MLFLOW_RUN_ID])) for t in templates}
    draws = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    rng = random.Random(seed)
    added = []
    for number in range(len(study.trials), to):
        template = templates[number % len(templates)]
        params = draws.ask(template.distributions).params
        value = min(1.0, max(0.0, float(template.value) + rng.gauss(0, 0.02)))
        source = runs[template.number]
        tags = {k: v for k, v in source.data.tags.items() if k != "mlflow.runName"}
        run = client.create_run(tracker.experiment_id, run_name=f"trial-{number:04d}",
                                tags={**tags, TAG_TRIAL_NUMBER: str(number)})
        ts = int(time.time() * 1000)
        metrics = {**source.data.metrics, **{k: value for k in source.data.metrics if k.endswith("val_accuracy")}}
        client.log_batch(run.info.run_id, metrics=[Metric(k, v, ts, 0) for k, v in metrics.items()],
                         params=[Param(k, str(v)) for k, v in {**source.data.params, **params}.items()])
        client.set_terminated(run.info.run_id, "FINISHED")
        attrs = {**template.user_attrs, HPARAMS: {**hparams(template), **params}, MLFLOW_RUN_ID: run.info.run_id,
                 SEED: rng.randrange(2**31 - 1), SYNTHETIC: True}
        added.append(optuna.trial.create_trial(
            state=optuna.trial.TrialState.COMPLETE, value=value, params=params,
            distributions=template.distributions, user_attrs=attrs,
            intermediate_values={step: value for step in template.intermediate_values}))
    study.add_trials(added)
    return time.perf_counter() - start


def open_seconds(cfg: Any) -> float:
    """Seconds to open the study from its journal and read every trial (a fresh storage: Optuna replays the log)."""
    from tuner.app import study_ref

    start = time.perf_counter()
    len(open_study(study_ref(cfg)).get_trials(deepcopy=False))
    return time.perf_counter() - start


def full_read_ms(cfg: Any, repeat: int = 20) -> dict[str, float]:
    """Milliseconds of one read of every trial, and of one read and sort (``ranked_trials``): what the failure
    guard and the progress bar paid after every trial before they read only the trials that ended since."""
    from tuner.study.ranking import ranked_trials

    study = open_study(_ref(cfg))
    out = {}
    for name, read in (("read_all_trials_ms", lambda: study.get_trials(deepcopy=False)),
                       ("read_and_sort_all_trials_ms", lambda: ranked_trials(study))):
        start = time.perf_counter()
        for _ in range(repeat):
            read()
        out[name] = round((time.perf_counter() - start) / repeat * 1000, 3)
    return out


def per_call(values: list[float], n: int) -> float | None:
    return round(sum(values) / n * 1000, 3) if values and n else None


def checkpoint(tmp: str, n: int, grown_s: float | None, timings: Timings, last: int) -> dict[str, Any]:
    """Run real trials until the study holds ``n`` finished ones; the figures of that checkpoint (the sampler's
    of the ``last`` new trials: the first few of a study are TPE's random start-up trials)."""
    from tuner.runner.loop import run_study
    from tuner.runner.objective import Context  # noqa: F401 - loads the trial stage before the clock starts

    cfg = study_cfg(tmp, *OVERRIDES, f"search.n_trials={n}")
    journal, db = Path(tmp) / "experiments" / "digits_mlp" / "study.journal", Path(tmp) / "mlflow.db"
    before = len(open_study(_ref(cfg)).trials) if journal.exists() else 0
    opened = open_seconds(cfg) if journal.exists() else None
    db_before = db.stat().st_size if db.exists() else 0
    timings.calls.clear()
    timings.by_trial.clear()
    called = time.time()
    run_study(make_plan(cfg))
    trials = open_study(_ref(cfg)).trials
    new = [t for t in trials if t.number >= before]
    first_start = min(t.datetime_start for t in new).timestamp()
    real = len(new)
    sampler = [timings.by_trial[t.number] for t in new[-last:]]
    steps = {name: per_call(timings.calls[name], real) for name in TUNER_STEPS}
    plots = {k.removeprefix("plot "): round(sum(v), 3) for k, v in sorted(timings.calls.items())
             if k.startswith("plot ")}
    return {
        "trials": len(trials),
        "real_trials_run": real,
        "grown_by_copies_s": round(grown_s, 1) if grown_s is not None else None,
        "open_s": round(opened, 3) if opened is not None else None,
        "run_to_first_trial_s": round(first_start - called, 2),
        "join_study_s": round(sum(timings.calls["join_study"]), 3),
        "sampler_s_per_trial": round(sum(sampler) / len(sampler), 4),
        "sampler_s_last_trial": round(sampler[-1], 4),
        "trial_s_mean": round(sum((t.datetime_complete - t.datetime_start).total_seconds() for t in new) / real, 2),
        "tuner_bookkeeping_ms_per_trial": round(sum(v or 0 for v in steps.values()), 3),
        **{f"{name}_ms_per_trial": v for name, v in steps.items()},
        **full_read_ms(cfg),
        "summarize_s": round(sum(timings.calls["summarize"]), 2),
        "leaderboard_s": round(sum(timings.calls["leaderboard"]), 3),
        "plots_s": round(sum(timings.calls["plots"]), 2),
        "plot_s": plots,
        "journal_mib": round(journal.stat().st_size / 2**20, 3),
        "journal_kib_per_trial": round(journal.stat().st_size / 2**10 / len(trials), 2),
        "mlflow_db_mib": round(db.stat().st_size / 2**20, 3),
        "mlflow_db_kib_per_real_trial": round((db.stat().st_size - db_before) / 2**10 / real, 1) if before else None,
    }


def _ref(cfg: Any) -> Any:
    from tuner.app import study_ref

    return study_ref(cfg)


def main(checkpoints: list[int], real_trials: int) -> None:
    from tuner.tracking import Tracker

    rows = []
    with tempfile.TemporaryDirectory(prefix="tuner-thousand-") as tmp:
        os.chdir(tmp)
        make_plan(study_cfg(tmp, *OVERRIDES))  # sets the Keras backend before the runner loads Keras
        timings = Timings()
        instrument(timings)
        grown = None
        for i, n in enumerate(checkpoints):
            if i:
                cfg = study_cfg(tmp, *OVERRIDES)
                grown = grow(open_study(_ref(cfg)), n - real_trials, Tracker(f"sqlite:///{tmp}/mlflow.db", "digits_mlp"),
                             seed=n)
            rows.append(checkpoint(tmp, n, grown, timings, real_trials))
            print({k: v for k, v in rows[-1].items() if k != "plot_s"}, flush=True)
    first, last = rows[0], rows[-1]
    figures = {
        "checkpoints": checkpoints, "real_trials_per_checkpoint": real_trials,
        "sampler_growth_x": round(last["sampler_s_per_trial"] / first["sampler_s_per_trial"], 1),
        "bookkeeping_growth_x": round(last["tuner_bookkeeping_ms_per_trial"] / first["tuner_bookkeeping_ms_per_trial"], 1),
        "summarize_growth_x": round(last["summarize_s"] / first["summarize_s"], 1),
        "by_checkpoint": [{k: v for k, v in row.items() if k != "plot_s"} for row in rows],
        "plots_at_checkpoint": [{"trials": row["trials"], **row["plot_s"]} for row in rows],
    }
    save_results("thousand", figures)


def parse(argv: list[str]) -> tuple[list[int], int]:
    """The checkpoints (rising trial counts, comma-separated) and the real trials run at each later one."""
    import argparse

    parser = argparse.ArgumentParser(prog="bench/thousand.py", description=__doc__.splitlines()[0])
    parser.add_argument("checkpoints", nargs="?", default="10,100,1000",
                        help="rising trial counts, comma-separated (default 10,100,1000)")
    parser.add_argument("real_trials", nargs="?", type=int, default=3,
                        help="real trials at each checkpoint after the first (default 3)")
    args = parser.parse_args(argv)
    try:
        points = [int(x) for x in args.checkpoints.split(",")]
    except ValueError:
        parser.error(f"checkpoints {args.checkpoints!r}: write whole numbers separated by commas, e.g. 10,100,1000")
    if args.real_trials < 1 or points[0] < 2 or any(b - a <= args.real_trials for a, b in itertools.pairwise(points)):
        parser.error(f"checkpoints {args.checkpoints!r} with real_trials={args.real_trials}: the first needs 2 real "
                     "trials at least (copies need a completed one), and each next one must exceed the last by more "
                     "than real_trials (real_trials >= 1)")
    return points, args.real_trials


if __name__ == "__main__":
    main(*parse(sys.argv[1:]))
