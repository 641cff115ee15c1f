"""Checks on what MLflow holds for a study, shared by the tests of parallel and distributed runs."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

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


def start_mlflow_server(folder: Path, port: int) -> subprocess.Popen:
    """A real ``mlflow server`` on 127.0.0.1:``port``, its store and artifacts in ``folder``, answering /health."""
    server = subprocess.Popen(
        [str(Path(sys.executable).with_name("mlflow")), "server", "--host", "127.0.0.1", "--port", str(port),
         "--workers", "1", "--backend-store-uri", f"sqlite:///{folder / 'server.db'}",
         "--artifacts-destination", str(folder / "server-artifacts")],
        cwd=folder, stdout=subprocess.DEVNULL, stderr=open(folder / "server.log", "a"), start_new_session=True)
    end = time.monotonic() + 120
    while True:
        assert server.poll() is None, (folder / "server.log").read_text()[-3000:]
        try:
            if urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2).status == 200:
                return server
        except OSError:
            assert time.monotonic() < end, "mlflow server did not start"
            time.sleep(0.5)


def stop_server(server: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    """Stop ``server`` and every process of its session (``SIGKILL``: as a crash would)."""
    try:
        os.killpg(server.pid, sig)
    except ProcessLookupError:
        pass
    server.wait(timeout=60)


@contextmanager
def mlflow_server_at(folder: Path, port: int | None = None) -> Iterator[str]:
    """``start_mlflow_server`` (on a free port by default) for the block; yields its URL."""
    port = port or free_port()
    server = start_mlflow_server(folder, port)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_server(server)
