"""Several worker processes on one machine share one study: exact budget, one parent run."""

from __future__ import annotations

import mlflow
import pytest

from tuner.run import run_study
from tuner.study import open_study
from tuner.workers import threads_per_worker


def test_two_workers_finish_exactly_the_budget_under_one_parent(make_cfg):
    cfg = make_cfg("+experiment=digits_mlp", "search.n_trials=6", "search.n_workers=2", "search.space.epochs=2")
    best = run_study(cfg)
    trials = open_study(cfg).trials
    assert [t.state.name for t in trials] == ["COMPLETE"] * 6
    assert [t.number for t in trials] == list(range(6))
    assert len({t.user_attrs["worker_pid"] for t in trials}) == 2  # both workers ran trials
    assert best == max(t.value for t in trials)

    mlflow.set_tracking_uri(cfg.tracking.uri)
    df = mlflow.search_runs(experiment_names=[cfg.name], output_format="pandas")
    parents = df[df["tags.mlflow.parentRunId"].isna()]
    children = df[df["tags.mlflow.parentRunId"].notna()]
    assert len(parents) == 1 and parents.iloc[0]["status"] == "FINISHED"
    assert set(children["tags.mlflow.parentRunId"]) == {parents.iloc[0]["run_id"]}
    assert sorted(children["tags.optuna.trial_number"].astype(int)) == list(range(6))
    assert set(children["status"]) == {"FINISHED"}
    assert {t.user_attrs["mlflow_run_id"] for t in trials} == set(children["run_id"])

    run_study(cfg)  # resumed with the budget reached: no worker runs a trial
    assert len(open_study(cfg).trials) == 6


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_workers_share_the_cores(workers, monkeypatch):
    import os

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)))
    assert threads_per_worker(workers) == 8 // workers
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0})
    assert threads_per_worker(workers) == 1
