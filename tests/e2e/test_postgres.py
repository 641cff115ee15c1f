"""Many machines, for real: a throwaway PostgreSQL cluster holds the study, an `mlflow server`
tracks it, and two `python -m tuner` processes (two "machines", two folders) join them."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Iterator

import mlflow
import optuna
import pytest

from ..conftest import TINY
from ..runs import assert_one_parent, free_port, mlflow_server_at

pytestmark = pytest.mark.slow
PASSWORD = "s3cret-pw"


def pg_bin(name: str) -> str:
    found = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))), None)
    assert found, f"{name} not found: apt-get install -y postgresql (.ci/run does)"
    return found


def as_postgres(*cmd: str) -> list[str]:
    """Run a PostgreSQL binary as the `postgres` user when we are root (initdb refuses root)."""
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else list(cmd)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    root = Path(tempfile.mkdtemp(prefix="tuner-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    data, port = root / "data", free_port()
    subprocess.run(as_postgres(pg_bin("initdb"), "-D", str(data), "-A", "trust", "-U", "tuner"),
                   check=True, capture_output=True, timeout=120)
    options = f"-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={root}"
    subprocess.run(as_postgres(pg_bin("pg_ctl"), "-D", str(data), "-o", options, "-l", str(root / "log"), "-w",
                               "start"), check=True, capture_output=True, timeout=120)
    try:
        yield f"postgresql://tuner:{PASSWORD}@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(as_postgres(pg_bin("pg_ctl"), "-D", str(data), "-m", "immediate", "stop"),
                       capture_output=True, timeout=120)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def mlflow_server(tmp_path: Path) -> Iterator[str]:
    with mlflow_server_at(tmp_path) as url:
        yield url


def test_two_machines_share_a_postgres_study_and_an_mlflow_server(tmp_path, postgres_url, mlflow_server):
    args = ["+experiment=digits_mlp", *[o for o in TINY if not o.startswith(("search.n_trials", "search.space.epochs"))],
            "search.n_trials=6", "search.space.epochs=3", f"search.storage={postgres_url}",
            f"tracking.uri={mlflow_server}"]
    machines = [tmp_path / "machine-a", tmp_path / "machine-b"]
    procs = []
    for folder in machines:
        folder.mkdir()
        procs.append(subprocess.Popen([sys.executable, "-m", "tuner", *args], cwd=folder, text=True,
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT))
    outs = [p.communicate(timeout=400)[0] for p in procs]
    for proc, out in zip(procs, outs):
        assert proc.returncode == 0, out[-3000:]
        assert PASSWORD not in out
    assert not any((m / "experiments/digits_mlp/study.journal").exists() for m in machines)

    trials = optuna.load_study(study_name="digits_mlp", storage=postgres_url).trials
    assert [t.state.name for t in trials] == ["COMPLETE"] * 6
    assert [t.number for t in trials] == list(range(6))
    assert len({t.user_attrs["worker_pid"] for t in trials}) == 2  # both machines ran trials

    parent, children = assert_one_parent(mlflow_server, "digits_mlp", 6)
    client = mlflow.MlflowClient(mlflow_server)
    models = client.search_logged_models([parent["experiment_id"]])
    assert {m.source_run_id for m in models} == set(children["run_id"])  # each trial's MLflow model
    assert "leaderboard.csv" in {a.path for a in client.list_artifacts(parent["run_id"])}
