"""Checks on what MLflow holds for a study, shared by the tests of parallel and distributed runs."""

from __future__ import annotations

import socket

import mlflow
import pandas as pd


def assert_one_parent(uri: str, experiment: str, n_trials: int) -> tuple[pd.Series, pd.DataFrame]:
    """One FINISHED parent run, and trials 0..n-1 as FINISHED child runs nested under it."""
    mlflow.set_tracking_uri(uri)
    df = mlflow.search_runs(experiment_names=[experiment], output_format="pandas")
    parents = df[df["tags.mlflow.parentRunId"].isna()]
    children = df[df["tags.mlflow.parentRunId"].notna()]
    assert len(parents) == 1 and parents.iloc[0]["status"] == "FINISHED"
    assert set(children["tags.mlflow.parentRunId"]) == {parents.iloc[0]["run_id"]}
    assert sorted(children["tags.optuna.trial_number"].astype(int)) == list(range(n_trials))
    assert set(children["status"]) == {"FINISHED"}
    return parents.iloc[0], children


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
