"""Several worker processes on one machine share one study: exact budget, one parent run."""

from __future__ import annotations

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
