"""Which sampler settings would have found better models in a race's number of trials?

    .venv/bin/python bench/research/sampler_sim.py WORKDIR [WORKDIR ...] [--trials 7,10,14] [--runs 100]
        [--noise 0.01] [--sampler random] [--sampler tpe] [--sampler tpe:n_startup_trials=3 ...] [--share filters]
        [--budget 600 [--cost-from WORKDIR ...] [--pruner none --pruner median ...]]

Replays a search on a surrogate of the race's landscape instead of training models, so that a
sampler setting can be judged on hundreds of searches rather than on the two or three that a
10-minute race affords. The surrogate is an extra-trees regressor fitted on every full-length
trial a ``bench.vs_kerastuner`` race recorded under the given workdirs: tuner's completed trials
(each ``study.journal``) and KerasTuner's scored trials (each ``trial.json``; Hyperband's only
where it trained the full epochs). A search asks its sampler for ``--trials`` configurations of the
experiment's space (``tuner.search.sample``, as a real search does), scores each with the
surrogate plus Gaussian noise of ``--noise`` (a run-to-run spread: one configuration scored 0.9080
and 0.8927 in two trainings on seed 5), and keeps the best noisy score. Printed per sampler and
trial count, over ``--runs`` searches: the mean best reported score (what a race prints), the
mean surrogate value of the configuration picked (what it is worth without the luck of its noise)
and that value's standard error. The surrogate's own fit is printed first (10-fold
cross-validated Spearman correlation and RMSE), so that its figures can be weighed.
``--share filters`` first prints how often each tool's recorded trials chose each value of
``filters`` (the main cost of a trial) and their mean score.

``--budget 600`` replaces the trial count with a race's clock: each trial costs what a second
surrogate, fitted on tuner's recorded seconds per epoch (``--cost-from``: one-worker races), predicts,
times a log-normal spread, and the search stops before the trial that would end after the budget.
Each sampler then runs with each ``--pruner`` (a ``conf/pruner`` config): every epoch reports the
final score less a gap drawn from the mean and sd, per epoch, of how far tuner's recorded complete
learning curves lay below their final value; a pruned trial costs only its epochs. Printed also:
complete and pruned trials per search, and the sd of the reported best (one race's spread).

``--sampler`` takes ``random``, or a config of ``conf/sampler`` with optional argument overrides
after a colon (``tpe:n_startup_trials=3,multivariate=false``); ``seed`` is set per search.
The space is ``fashion_cnn``'s with the race's 6-epoch trials (``--experiment``, ``--set`` to change).
"""

from __future__ import annotations

import argparse
import functools
import glob
import json
import math
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import optuna  # noqa: E402
from hydra.utils import instantiate  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402

from tuner.config import compose  # noqa: E402
from tuner.search.sampling import sample  # noqa: E402
from tuner.search.space import Param, parse_space  # noqa: E402

RACE = ["search.enqueue=[]", "search.space.epochs=6"]
TREES = 300
COST_NOISE = 0.1  # sd of a trial's log seconds around its cost surrogate (same model, different runs)
FOLDS = 10


def features(hp: Mapping[str, Any], space: Mapping[str, Param]) -> list[float]:
    """One row for the surrogate: each range scaled to [0, 1] (log ranges in log), each choice one-hot."""
    row: list[float] = []
    for name, p in space.items():
        if p.type == "categorical":
            row.extend(float(hp.get(name) == c) for c in p.choices)
        elif p.type in ("int", "float") and name not in hp:  # inactive under a `when` condition
            row.append(0.0)
        elif p.type in ("int", "float"):
            low, high, x = float(p.low), float(p.high), float(hp[name])
            if p.log:
                low, high, x = math.log(low), math.log(high), math.log(x)
            row.append((x - low) / (high - low) if high > low else 0.0)
    return row


def recorded(workdirs: Sequence[str], space: Mapping[str, Param], epochs: int) -> list[tuple[str, dict, float]]:
    """The full-length trials every race under ``workdirs`` recorded: (tool, hyperparameters, score)."""
    found = [(tool, hp, score) for tool, hp, score, _ in trials_of(workdirs, space, epochs)]
    if len(found) < FOLDS:
        raise SystemExit(f"only {len(found)} recorded full-length trials under {', '.join(workdirs)}: "
                         f"give the workdirs of bench.vs_kerastuner races (--workdir) on this experiment")
    return found


def costs(workdirs: Sequence[str], space: Mapping[str, Param]) -> list[tuple[dict, float]]:
    """Seconds per epoch of every tuner trial (completed or pruned) under ``workdirs``: (hyperparameters, s)."""
    found = [(hp, seconds) for tool, hp, _, seconds in trials_of(workdirs, space, None) if seconds is not None]
    if len(found) < FOLDS:
        raise SystemExit(f"only {len(found)} timed tuner trials under {', '.join(workdirs)} (--cost-from): "
                         f"give the workdirs of one-worker bench.vs_kerastuner races on this experiment")
    return found


def tuner_trials(workdirs: Sequence[str], states: tuple[optuna.trial.TrialState, ...]) -> list[optuna.trial.FrozenTrial]:
    """The trials in ``states`` of every tuner study (``study.journal``) under ``workdirs``."""
    return [t for workdir in workdirs for journal in glob.glob(f"{workdir}/**/study.journal", recursive=True)
            for t in journal_trials(journal, states)]


def journal_trials(journal: str, states: tuple[optuna.trial.TrialState, ...]) -> list[optuna.trial.FrozenTrial]:
    """The trials in ``states`` of the studies in one journal file."""
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    storage = JournalStorage(JournalFileBackend(journal))
    return [t for summary in optuna.get_all_study_summaries(storage)
            for t in optuna.load_study(study_name=summary.study_name, storage=storage).get_trials(
                deepcopy=False, states=states)]


def trials_of(workdirs: Sequence[str], space: Mapping[str, Param],
              epochs: int | None) -> list[tuple[str, dict, float | None, float | None]]:
    """(tool, hyperparameters, score, tuner's seconds per epoch) of the trials under ``workdirs``: full-length
    scored ones with ``epochs``; with None, tuner's completed and pruned ones (score None when pruned)."""
    found: list[tuple[str, dict, float | None, float | None]] = []
    states = (optuna.trial.TrialState.COMPLETE,) if epochs else (optuna.trial.TrialState.COMPLETE,
                                                                  optuna.trial.TrialState.PRUNED)
    searched = [name for name, p in space.items() if p.type != "fixed"]
    for workdir in workdirs:  # one workdir's trials together, in the order the surrogates were fitted on
        for t in tuner_trials([workdir], states):
            ran, seconds = t.user_attrs.get("epochs_run"), t.user_attrs.get("seconds")
            if all(name in t.params for name in searched):
                found.append(("tuner", dict(t.params), None if t.value is None else float(t.value),
                              seconds / ran if ran and seconds else None))
        if epochs is None:  # timing only: KerasTuner's trials carry no seconds
            continue
        for path in glob.glob(f"{workdir}/**/kerastuner/**/trial.json", recursive=True):
            record = json.loads(Path(path).read_text())
            values = record["hyperparameters"]["values"]
            if record.get("score") is None or values.get("tuner/epochs", epochs) != epochs:
                continue
            if all(name in values for name in searched):
                found.append((f"kt-{Path(path).parent.parent.name}", values, float(record["score"]), None))
    return found


def shares(found: Sequence[tuple[str, dict, float]], key: str) -> None:
    """Print, per tool, how often its recorded trials chose each value of ``key`` (and their mean score)."""
    for tool in sorted({t for t, _, _ in found}):
        mine = [(hp[key], score) for t, hp, score in found if t == tool]
        parts = []
        for choice in sorted({c for c, _ in mine}, key=str):
            scores = [score for c, score in mine if c == choice]
            parts.append(f"{choice}: {len(scores)} ({100 * len(scores) / len(mine):.0f}%, mean {np.mean(scores):.4f})")
        print(f"{tool}: {len(mine)} full-length trials; {key} " + ", ".join(parts))


def surrogate(x: np.ndarray, y: np.ndarray, what: str = "scores") -> Any:
    """An extra-trees regressor on the recorded trials' ``what``; prints its cross-validated fit."""
    from scipy.stats import spearmanr
    from sklearn.ensemble import ExtraTreesRegressor
    from sklearn.model_selection import KFold, cross_val_predict

    model = ExtraTreesRegressor(TREES, min_samples_leaf=2, random_state=0)
    predicted = cross_val_predict(model, x, y, cv=KFold(FOLDS, shuffle=True, random_state=0))
    rho = spearmanr(predicted, y).statistic
    rmse = float(np.sqrt(np.mean((predicted - y) ** 2)))
    print(f"surrogate of {what}: {len(y)} recorded trials ({y.min():.4f}-{y.max():.4f}, sd {y.std():.4f}); "
          f"{FOLDS}-fold cross-validated Spearman {rho:.3f}, RMSE {rmse:.4f}")
    return model.fit(x, y)


@functools.cache
def sampler_config(spec: str) -> dict[str, Any]:
    """The ``conf/sampler`` config that ``spec`` names, with its ``key=value`` overrides, composed once."""
    name, _, args = spec.partition(":")
    cfg = compose([f"sampler={name}", *(f"sampler.{a}" for a in args.split(",") if a)])
    return OmegaConf.to_container(cfg.sampler, resolve=True)


def make_sampler(spec: str, seed: int) -> optuna.samplers.BaseSampler:
    """``random``, or a ``conf/sampler`` config with ``key=value`` overrides after a colon, seeded ``seed``."""
    if spec == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return instantiate({**sampler_config(spec), "seed": seed})


def make_pruner(spec: str) -> optuna.pruners.BasePruner:
    """A ``conf/pruner`` config with ``key=value`` overrides after a colon (``median:n_warmup_steps=2``)."""
    name, _, args = spec.partition(":")
    cfg = compose([f"pruner={name}", *(f"pruner.{a}" for a in args.split(",") if a)])
    return instantiate(OmegaConf.to_container(cfg.pruner, resolve=True))


def curves(workdirs: Sequence[str], epochs: int) -> tuple[np.ndarray, np.ndarray]:
    """How far each epoch's validation score lies below the trial's final score in tuner's completed
    full-length trials under ``workdirs``: the mean and sd per epoch (what a pruner sees early)."""
    gaps = [[t.value - t.intermediate_values[e] for e in range(epochs)]
            for t in tuner_trials(workdirs, (optuna.trial.TrialState.COMPLETE,))
            if sorted(t.intermediate_values) == list(range(epochs))]
    if len(gaps) < FOLDS:
        raise SystemExit(f"only {len(gaps)} complete {epochs}-epoch tuner learning curves under "
                         f"{', '.join(workdirs)}: --pruner needs the workdirs of races that ran tuner")
    gaps = np.array(gaps)
    print(f"learning curves: {len(gaps)} trials; final minus epoch-e score, mean (sd): "
          + ", ".join(f"{e + 1}: {m:.4f} ({sd:.4f})" for e, (m, sd) in enumerate(zip(gaps.mean(0), gaps.std(0)))))
    return gaps.mean(0), gaps.std(0)


def search(spec: str, seed: int, n_trials: float, space: Mapping[str, Param], model: Any, noise: float,
           cost: Any = None, budget: float | None = None, pruner: str = "none",
           curve: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[float, float, int, int]:
    """One simulated search: the best noisy score, the surrogate value of the configuration behind it, the
    number of complete and of pruned trials. With ``budget`` (seconds) and ``cost`` (a surrogate of log
    seconds per epoch), trials run until the next would end after the budget (as a race counts them), else
    ``n_trials``. With a ``pruner`` and ``curve`` (per-epoch gap below the final score: mean, sd), each
    epoch reports the final score less a drawn gap, and a pruned trial costs only the epochs it ran."""
    rng = np.random.default_rng(seed)
    study = optuna.create_study(direction="maximize", sampler=make_sampler(spec, seed),
                                pruner=make_pruner(pruner) if curve is not None else None)
    best, elapsed, done, pruned = (-math.inf, -math.inf), 0.0, 0, 0
    while done < n_trials:
        trial = study.ask()
        row = np.array([features(sample(trial, space), space)])
        worth = float(model.predict(row)[0])
        score = worth + float(rng.normal(0.0, noise))
        if budget is None:
            study.tell(trial, score)
            best, done = max(best, (score, worth)), done + 1
            continue
        epochs = int(trial.params.get("epochs", space["epochs"].value if "epochs" in space else 1))
        per_epoch = math.exp(float(cost.predict(row)[0]) + float(rng.normal(0.0, COST_NOISE)))
        ran = epochs
        for step in range(epochs):  # the sampler's cost model reads seconds per reported step
            gap = 0.0 if curve is None else float(rng.normal(curve[0][step], curve[1][step]))
            trial.report(score - max(gap, 0.0) if step < epochs - 1 else score, step)
            if curve is not None and step < epochs - 1 and trial.should_prune():
                ran = step + 1
                break
        if elapsed + ran * per_epoch > budget:
            break
        elapsed += ran * per_epoch
        trial.set_user_attr("seconds", ran * per_epoch)
        if ran < epochs:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            pruned += 1
            continue
        study.tell(trial, score)
        best, done = max(best, (score, worth)), done + 1
    return (*best, done, pruned)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("workdirs", nargs="+", help="bench.vs_kerastuner --workdir folders")
    parser.add_argument("--trials", default="7,10,14", help="comma-separated numbers of trials a search gets")
    parser.add_argument("--runs", type=int, default=100, help="simulated searches per sampler and trial count "
                        "(0: print only the shares and the surrogate's fit)")
    parser.add_argument("--noise", type=float, default=0.01, help="sd of a trial's score around its surrogate value")
    parser.add_argument("--sampler", action="append", help="random, or <conf/sampler name>[:key=value,...]")
    parser.add_argument("--budget", type=float, help="seconds per search instead of --trials: trials cost what a "
                        "surrogate of tuner's recorded seconds per epoch predicts (times a log-normal spread of "
                        f"sd {COST_NOISE})")
    parser.add_argument("--cost-from", action="append", help="workdirs whose tuner trials time the cost surrogate "
                        "(repeatable; default: the workdirs); leave out races run with search.n_workers > 1")
    parser.add_argument("--pruner", action="append", help="with --budget: a conf/pruner config with optional "
                        "key=value overrides after a colon (repeatable; each sampler runs with each; default none)")
    parser.add_argument("--experiment", default="fashion_cnn")
    parser.add_argument("--set", action="append", default=[], help="a config override for the space (repeatable)")
    parser.add_argument("--share", action="append", default=[], help="print each tool's share of every value of "
                        "this hyperparameter among its recorded trials (repeatable), e.g. filters")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    cfg = compose([f"+experiment={args.experiment}", *RACE, *args.set])
    space = parse_space(cfg.search.space)
    found = recorded(args.workdirs, space, int(cfg.search.space.epochs))
    for key in args.share:
        shares(found, key)
    model = surrogate(np.array([features(hp, space) for _, hp, _ in found]), np.array([v for _, _, v in found]))
    cost = None
    if args.budget is not None:
        timed = costs(args.cost_from or args.workdirs, space)
        cost = surrogate(np.array([features(hp, space) for hp, _ in timed]),
                         np.log([seconds for _, seconds in timed]), "log seconds per epoch")
    pruners = args.pruner or ["none"]
    curve = None
    if args.pruner:
        if args.budget is None:
            raise SystemExit("--pruner needs --budget: pruning saves time, and only a budget counts time")
        curve = curves(args.cost_from or args.workdirs, int(cfg.search.space.epochs))
    if args.runs == 0:  # only the shares and the surrogate's fit
        return
    budgets = [math.inf] if args.budget is not None else [int(n) for n in args.trials.split(",")]
    for n_trials in budgets:
        label = f"{args.budget:.0f} s" if args.budget is not None else f"{n_trials:>3} trials"
        for spec in args.sampler or ["random", "tpe"]:
            for pruner in pruners:
                results = np.array([search(spec, seed, n_trials, space, model, args.noise, cost, args.budget,
                                           pruner, curve if pruner != "none" else None)
                                    for seed in range(args.runs)])
                reported, worth, done, cut = results.T
                print(f"{label}  {spec + (' / ' + pruner if args.pruner else ''):<48} trials {done.mean():5.2f} "
                      f"(+{cut.mean():.2f} pruned)   reported best {reported.mean():.4f} (sd {reported.std():.4f})   worth of the pick "
                      f"{worth.mean():.4f} (se {worth.std() / math.sqrt(args.runs):.4f})", flush=True)


if __name__ == "__main__":
    main()
