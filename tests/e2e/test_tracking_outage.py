"""The tracking server goes away mid-study, for real: an `mlflow server` on a loopback port is killed while
`python -m tuner` runs, trials go on finishing into the local spool, the server starts again on the same port,
and MLflow ends up holding exactly one complete run per trial."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
import time

import mlflow
import pytest

from ..conftest import TINY
from ..runs import assert_one_parent, free_port, start_mlflow_server, stop_server

pytestmark = pytest.mark.slow
N_TRIALS, EPOCHS = 6, 2
STUDY_S = 300


def finished(lines: list[str]) -> int:
    return sum(bool(re.search(r"trial \d+ (COMPLETE|PRUNED|FAIL)", line)) for line in lines)


def wait_for(lines: list[str], n: int, proc: subprocess.Popen) -> None:
    end = time.monotonic() + STUDY_S
    while finished(lines) < n:
        assert proc.poll() is None, "".join(lines)[-3000:]
        assert time.monotonic() < end, "".join(lines)[-3000:]
        time.sleep(0.2)


def test_a_study_outlives_its_tracking_server_and_mlflow_gets_every_trial_once(tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server_dir = tmp_path / "server"
    server_dir.mkdir()
    server = start_mlflow_server(server_dir, port)
    args = ["+experiment=digits_mlp", *[o for o in TINY if not o.startswith(("search.n_trials", "search.space.epochs"))],
            f"search.n_trials={N_TRIALS}", f"search.space.epochs={EPOCHS}", f"tracking.uri={url}"]
    proc = subprocess.Popen([sys.executable, "-m", "tuner", *args], cwd=tmp_path, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True)
    reader.start()
    try:
        wait_for(lines, 1, proc)
        stop_server(server, signal.SIGKILL)  # as a crash: no goodbye
        wait_for(lines, 3, proc)  # trials go on finishing while it is down
        spooled = list((tmp_path / "experiments/digits_mlp/spool").glob("*.jsonl"))
        assert spooled and any(f.read_text() for f in spooled)
        server = start_mlflow_server(server_dir, port)
        proc.wait(timeout=STUDY_S)
        reader.join(timeout=10)
        out = "".join(lines)
        assert proc.returncode == 0, out[-4000:]
        assert out.count("does not answer") == 1, out[-4000:]  # one warning for the outage, not one per call

        parent, children = assert_one_parent(url, "digits_mlp", N_TRIALS)  # one FINISHED run per trial, no more
        client = mlflow.MlflowClient(url)
        for run_id in children["run_id"]:
            history = client.get_metric_history(run_id, "val_accuracy")
            assert sorted(m.step for m in history) == list(range(EPOCHS)), run_id  # every epoch, once
            names = {a.path for a in client.list_artifacts(run_id)}
            assert {"learning_curves.png", "model_summary.txt"} <= names, (run_id, names)
        models = client.search_logged_models([parent["experiment_id"]])
        assert sorted(m.source_run_id for m in models) == sorted(children["run_id"])  # one model each
        assert {str(m.status) for m in models} <= {"READY", "LoggedModelStatus.READY"}
        assert "leaderboard.csv" in {a.path for a in client.list_artifacts(parent["run_id"])}
    finally:
        if proc.poll() is None:
            proc.kill()
        stop_server(server)
    assert not list((tmp_path / "experiments/digits_mlp/spool").glob("*.jsonl"))  # all sent, nothing left

