"""Several worker processes on one machine share one study: exact budget, one parent run."""

from __future__ import annotations

import os

import optuna
import pytest

from tuner.app import join_study, run_study
from tuner.runner.workers import threads_per_worker

from ..runs import assert_one_parent

pytestmark = pytest.mark.slow  # worker processes train whole studies


def test_two_workers_finish_exactly_the_budget_under_one_parent(make_cfg, capfd):
    cfg = make_cfg("+experiment=digits_mlp", "search.n_trials=6", "search.n_workers=2", "search.space.epochs=2")
    best = run_study(cfg)
    trials = join_study(cfg).trials
    assert [t.state.name for t in trials] == ["COMPLETE"] * 6
    assert [t.number for t in trials] == list(range(6))
    assert len({t.user_attrs["worker_pid"] for t in trials}) == 2  # both workers ran trials
    assert best == max(t.value for t in trials)
    share = threads_per_worker(2)  # each worker's share of this machine's cores
    assert capfd.readouterr().err.count(f"with {share}+{share} TensorFlow threads") == 2

    _, children = assert_one_parent(cfg.tracking.uri, cfg.name, 6)
    assert {t.user_attrs["mlflow_run_id"] for t in trials} == set(children["run_id"])

    run_study(cfg)  # resumed with the budget reached: no worker runs a trial
    assert len(join_study(cfg).trials) == 6


def test_a_worker_is_replaced_after_trials_per_worker(make_cfg):
    cfg = make_cfg("+experiment=digits_mlp", "search.n_trials=3", "search.trials_per_worker=2")
    run_study(cfg)
    trials = join_study(cfg).trials
    assert [t.state.name for t in trials] == ["COMPLETE"] * 3
    pids = [t.user_attrs["worker_pid"] for t in trials]
    assert pids[0] == pids[1] != pids[2]
    assert_one_parent(cfg.tracking.uri, cfg.name, 3)


def test_a_worker_counts_priorband_rungs_by_their_budget(make_cfg):
    # rung 0 of two costs a third of a full trial: the three rung-0 trials count as one, then the worker is replaced
    from tuner.search.priorband import rung_of

    cfg = make_cfg("+experiment=digits_mlp", "sampler=priorband", "pruner=priorband", "sampler.rungs=2",
                   "search.space.epochs=3", "search.n_trials=4", "search.trials_per_worker=1")
    run_study(cfg)
    trials = join_study(cfg).trials
    assert [rung_of(t).index for t in trials] == [0, 0, 0, 1]
    pids = [t.user_attrs["worker_pid"] for t in trials]
    assert pids[0] == pids[1] == pids[2] != pids[3]


@pytest.mark.timeout(120)
def test_by_default_a_long_run_recycles_its_process_and_null_keeps_one(make_cfg):
    from tuner import app
    from tuner.runner.loop import in_workers

    cfg = make_cfg("+experiment=digits_mlp")
    per_worker = cfg.search.trials_per_worker
    assert isinstance(per_worker, int) and per_worker > 1  # the default bounds memory (issue 22)
    study = optuna.create_study()  # no trial finished yet (the real run below makes the study's journal itself)
    for n_trials, expected in [(per_worker, False), (per_worker + 1, True)]:  # recycled only if it would reach the count
        cfg.search.n_trials = n_trials
        assert in_workers(study, app.plan(cfg)) is expected
    cfg.search.trials_per_worker = None
    assert not in_workers(study, app.plan(cfg))

    cfg.search.n_trials = 2  # null: a real run keeps every trial in this process
    run_study(cfg)
    assert [t.user_attrs["worker_pid"] for t in join_study(cfg).trials] == [os.getpid()] * 2
