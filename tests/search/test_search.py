"""Samplers and pruners from their config groups, and multi-objective studies, against real Optuna and Keras."""

from __future__ import annotations

import csv
import sys

import mlflow
import optuna
import pytest
from hydra.utils import instantiate
from omegaconf import OmegaConf

from tuner.app import export, join_study, prepare, run_study
from tuner.config import compose, objectives
from tuner.errors import ConfigError
from tuner.search.samplers import grid_space
from tuner.search.space import parse_space
from tuner.study import leaderboard

from ..conftest import ROOT

# width {8, 12, 16} x dropout {0, 0.25, 0.5} x optimizer {adam, nadam, rmsprop}: 27 grid points
DISCRETE = ["search.space.width.log=false", "+search.space.width.step=4", "+search.space.dropout.step=0.25", "search.space.learning_rate=0.01"]
SAMPLERS = sorted(p.stem for p in (ROOT / "conf" / "sampler").glob("*.yaml"))
PRUNERS = sorted(p.stem for p in (ROOT / "conf" / "pruner").glob("*.yaml"))


def test_the_contract_samplers_and_pruners_exist():
    # tpe_cost: EI per predicted second; priorband (with pruner=priorband): tests/search/test_priorband.py
    assert SAMPLERS == ["cmaes", "grid", "priorband", "qmc", "random", "tpe", "tpe_cost"]
    # the contract's five; median_eager (the median rule from the first finished trial) and median_warm
    # (fashion_cnn's: once its 4 enqueued trials have finished)
    assert PRUNERS == ["hyperband", "median", "median_eager", "median_warm", "none", "percentile", "priorband",
                       "successive_halving"]


EXPERIMENTS = sorted(p.stem for p in (ROOT / "conf" / "experiment").glob("*.yaml"))


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_experiment_builds_with_every_pruner(experiment):
    # an experiment that set a pruner's keys at top level would break `pruner=none` or `pruner=hyperband`
    for pruner in PRUNERS:
        cfg = compose([f"+experiment={experiment}", f"pruner={pruner}"])
        assert isinstance(instantiate(cfg.pruner), optuna.pruners.BasePruner), (experiment, pruner)


def test_grid_enumerates_categorical_and_stepped_entries():
    raw = OmegaConf.to_container(compose(["search/space=mlp_vs_cnn"]).search.space)
    raw.update(dropout={"type": "float", "low": 0.1, "high": 0.3, "step": 0.1}, learning_rate=0.01,
               width={"type": "int", "low": 32, "high": 64, "step": 16}, depth={"type": "int", "low": 1, "high": 3})
    space = parse_space(raw)
    grid = grid_space(space)
    assert grid["dropout"] == [0.1, 0.2, 0.3]
    assert grid["width"] == [32, 48, 64] and grid["depth"] == [1, 2, 3]
    assert grid["optimizer"] == ["adam", "nadam", "rmsprop"] and grid["arch"] == ["mlp", "cnn"]
    assert "learning_rate" not in grid and "epochs" not in grid  # pinned entries are not searched


@pytest.mark.parametrize(("override", "message"), [
    ([], "search.space.dropout is a continuous range [0.0, 0.5]: sampler=grid needs a finite set of values; "
         "add a step (+search.space.dropout.step=<step>)"),
    (["search.space.dropout=0.0"], "search.space.learning_rate is a continuous range"),
    (["search.space.dropout=0.0", "search.space.learning_rate=0.01", "search.space.width={type:int,low:1,high:100000}",
      "search.space.depth={type:int,low:1,high:100}"], "sampler=grid: the grid has"),
])
def test_grid_rejects_what_it_cannot_enumerate(override, message):
    with pytest.raises(ConfigError) as err:
        prepare(compose(["sampler=grid", *override]))
    assert message in str(err.value)


def test_a_missing_sampler_package_is_named(monkeypatch):
    monkeypatch.setitem(sys.modules, "cmaes", None)  # what Python does for an uninstalled module
    with pytest.raises(ConfigError, match="sampler=cmaes needs the Python package 'cmaes': pip install cmaes"):
        prepare(compose(["sampler=cmaes"]))


def test_tpe_options_are_config_keys():
    sampler = prepare(compose(["sampler.group=true", "sampler.constant_liar=true",
                               "sampler.n_startup_trials=3"])).sampler
    assert (sampler._group, sampler._constant_liar, sampler._n_startup_trials) == (True, True, 3)
    with pytest.raises(ConfigError, match="group"):
        prepare(compose(["sampler.group=true", "sampler.multivariate=false"]))


@pytest.mark.slow
@pytest.mark.parametrize("sampler", [s for s in SAMPLERS if s != "priorband"])  # its rungs: test_priorband.py
def test_every_sampler_drives_a_tiny_study(sampler, make_cfg):
    cfg = make_cfg("+experiment=digits_mlp", f"sampler={sampler}", "search.n_trials=2", *DISCRETE)
    run_study(cfg)
    study = join_study(cfg)
    trials = study.trials
    assert [t.state.name for t in trials] == ["COMPLETE"] * 2
    for t in trials:
        assert t.params["width"] in (8, 12, 16) and t.params["dropout"] in (0.0, 0.25, 0.5)
    if sampler == "grid":
        assert len({tuple(sorted(t.params.items())) for t in trials}) == 2  # no grid point drawn twice
        assert all("grid_id" in t.system_attrs for t in trials)
    if sampler == "cmaes":  # after one start-up trial, CMA-ES proposes width and dropout
        assert any(k.startswith("cma:") for k in trials[-1].system_attrs)


def _curve_study(pruner: optuna.pruners.BasePruner, epochs: int = 9) -> list[str]:
    """Six trials that learn, then three stuck at 0.1: which of them does ``pruner`` stop?"""
    def objective(trial: optuna.trial.Trial) -> float:
        stuck = trial.number >= 6
        for epoch in range(epochs):
            value = 0.1 if stuck else 0.5 + 0.04 * epoch + 0.001 * trial.number
            trial.report(value, epoch)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return value

    # a fixed name: Hyperband assigns brackets by hashing the study name with the trial number
    study = optuna.create_study(study_name="curves", direction="maximize", pruner=pruner,
                                sampler=optuna.samplers.RandomSampler(0))
    study.optimize(objective, n_trials=9)
    return [t.state.name for t in study.trials]


@pytest.mark.parametrize("name", [p for p in PRUNERS if p != "priorband"])  # its rungs prune: test_priorband.py
def test_every_pruner_group_prunes_stuck_trials_only(name):
    pruner = prepare(compose([f"pruner={name}"])).pruner
    states = _curve_study(pruner)
    assert states[:6] == ["COMPLETE"] * 6
    assert states[6:] == (["COMPLETE"] * 3 if name == "none" else ["PRUNED"] * 3)


@pytest.mark.slow
def test_hyperband_prunes_keras_trials_by_epoch(make_cfg):
    # two good trials set max_resource to 3 epochs; a learning rate of 1e-7 cannot learn and is stopped early
    cfg = make_cfg("+experiment=digits_mlp", "pruner=hyperband", "search.space.epochs=3", "search.n_trials=5",
                   "search.space.learning_rate={type:float,low:1e-7,high:1e-2,log:true}", "sampler=random",
                   "search.enqueue=[{learning_rate:0.01},{learning_rate:0.01},{learning_rate:0.01},"
                   "{learning_rate:1e-7},{learning_rate:1e-7}]", "search.space.width=16")
    run_study(cfg)
    trials = join_study(cfg).trials
    assert [t.state.name for t in trials][:3] == ["COMPLETE"] * 3
    assert "PRUNED" in [t.state.name for t in trials[3:]]
    assert all(sorted(t.intermediate_values) == list(range(len(t.intermediate_values))) for t in trials)


MULTI = ["search.metric=[val_accuracy,n_params,inference_ms]", "search.direction=[maximize,minimize,minimize]"]


@pytest.mark.parametrize(("override", "message"), [
    (["search.metric=[val_accuracy,n_params]", "search.direction=maximize"], "give one direction per metric"),
    (["search.metric=[val_accuracy,flops]", "search.direction=[maximize,minimize]"], "unknown metric 'flops'"),
    (["search.metric=[val_accuracy,val_accuracy]", "search.direction=[maximize,minimize]"], "names a metric twice"),
    (["search.metric=[n_params,val_accuracy]", "search.direction=[minimize,maximize]"], "put n_params second"),
    (["search.metric=n_params", "search.direction=minimize"], "put n_params second"),
    (["search.metric=[val_accuracy,n_params]", "search.direction=[maximize,down]"], "unknown direction 'down'"),
    (MULTI, "cannot be pruned: Optuna prunes single-objective studies only; add pruner=none"),
])
def test_bad_objectives_are_rejected(override, message):
    cfg = compose(["pruner=median", *override])
    with pytest.raises(ConfigError) as err:
        prepare(cfg)  # validates, then builds the pruner: a multi-objective study refuses a real one
    assert message in str(err.value)


@pytest.mark.slow
def test_multi_objective_study_ranks_marks_the_pareto_front_and_exports(make_cfg, workdir):
    cfg = make_cfg("+experiment=digits_mlp", *MULTI, "search.n_trials=4", "sampler=random",
                   "search.space.width={type:int,low:8,high:64,log:true}")
    assert objectives(cfg.search) == [("val_accuracy", "maximize"), ("n_params", "minimize"), ("inference_ms", "minimize")]
    best = run_study(cfg)
    study = join_study(cfg)
    assert study.metric_names == ["val_accuracy", "n_params", "inference_ms"]
    done = study.trials
    assert [t.state.name for t in done] == ["COMPLETE"] * 4
    for t in done:
        assert t.values[1] == t.user_attrs["n_params"] and 0 < t.values[2] == t.user_attrs["inference_ms"]
    assert best == max(t.values[0] for t in done)

    board = leaderboard(study)
    assert list(board["value"]) == sorted(board["value"], reverse=True)
    assert set(board.loc[board["pareto"], "trial"]) == {t.number for t in study.best_trials}
    assert {"value.val_accuracy", "value.n_params", "value.inference_ms"} <= set(board.columns)

    front = list(csv.DictReader(open(workdir / "experiments/digits_mlp/pareto_front.csv")))
    assert {int(r["trial"]) for r in front} == {t.number for t in study.best_trials}
    client = mlflow.MlflowClient(cfg.tracking.uri)
    parent = study.user_attrs["mlflow_parent_run_id"]
    assert "pareto_front.csv" in {a.path for a in client.list_artifacts(parent)}
    child = client.get_run(done[0].user_attrs["mlflow_run_id"])
    assert child.data.metrics["inference_ms"] == pytest.approx(done[0].values[2])

    sub = export(cfg)  # the best val_accuracy, which is always on the Pareto front
    assert sub.trial == board.iloc[0]["trial"] and sub.trial in {t.number for t in study.best_trials}


def test_resuming_with_other_directions_is_refused(make_cfg):
    join_study(make_cfg("+experiment=digits_mlp", *MULTI, "pruner=none"))
    with pytest.raises(ConfigError, match=r"created with direction \['maximize', 'minimize', 'minimize'\], "
                                          "not search.direction=maximize"):
        join_study(make_cfg("+experiment=digits_mlp"))
