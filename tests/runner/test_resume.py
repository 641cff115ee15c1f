"""Crash-safe resume through the real command: SIGKILL, SIGTERM and Ctrl-C in the middle of a trial."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import pytest

from tuner.app import join_study
from tuner.config import compose

from ..conftest import TINY

pytestmark = pytest.mark.slow  # every test runs the command in a subprocess and signals it
# long enough per trial (several epochs) to be caught in the middle of one
ARGS = ["+experiment=digits_mlp", *[o for o in TINY if not o.startswith(("search.space.epochs", "data.max"))],
        "data.max_samples=800", "search.space.epochs=6", "search.space.batch_size=16"]


def start(cwd: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "tuner", *ARGS, *extra], cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def wait_until_running(cwd: Path, run_name: str, proc: subprocess.Popen, limit_s: float = 180) -> None:
    """Poll the MLflow store until the run of ``run_name`` exists and is RUNNING."""
    end = time.monotonic() + limit_s
    while time.monotonic() < end:
        assert proc.poll() is None, proc.stdout.read()[-3000:]
        if (cwd / "mlflow.db").exists():
            with sqlite3.connect(cwd / "mlflow.db", timeout=30) as db:
                try:
                    rows = db.execute("select status from runs where name = ?", (run_name,)).fetchall()
                except sqlite3.OperationalError:  # tables not created yet
                    rows = []
            if rows == [("RUNNING",)]:
                return
        time.sleep(0.1)
    raise AssertionError(f"{run_name} never ran")


def runs(cwd: Path, name: str = "digits_mlp"):
    mlflow.set_tracking_uri(f"sqlite:///{cwd / 'mlflow.db'}")
    df = mlflow.search_runs(experiment_names=[name], output_format="pandas")
    return df[df["tags.mlflow.parentRunId"].isna()], df[df["tags.mlflow.parentRunId"].notna()]


def study_of(cwd: Path, *extra: str):
    return join_study(compose([*ARGS, f"experiments_dir={cwd / 'experiments'}", *extra]))


def test_kill_9_mid_trial_then_rerun_resumes_to_the_budget(tmp_path):
    proc = start(tmp_path, "search.n_trials=3")
    wait_until_running(tmp_path, "trial-0001", proc)  # trial 0 finished, trial 1 under way
    proc.kill()
    proc.wait()
    assert [t.state.name for t in study_of(tmp_path, "search.n_trials=3").trials] == ["COMPLETE", "RUNNING"]

    again = subprocess.run([sys.executable, "-m", "tuner", *ARGS, "search.n_trials=3"], cwd=tmp_path,
                           capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    trials = study_of(tmp_path, "search.n_trials=3").trials
    assert [t.state.name for t in trials] == ["COMPLETE", "FAIL", "COMPLETE", "COMPLETE"]
    assert trials[1].user_attrs["fail_reason"].startswith(f"interrupted: worker pid {proc.pid}")
    parents, children = runs(tmp_path)
    assert len(parents) == 1 and parents.iloc[0]["status"] == "FINISHED"
    assert set(children["tags.mlflow.parentRunId"]) == {parents.iloc[0]["run_id"]}
    status = dict(zip(children["tags.optuna.trial_number"], children["status"]))
    assert status == {"0": "FINISHED", "1": "KILLED", "2": "FINISHED", "3": "FINISHED"}


@pytest.mark.parametrize("sig, n_workers", [(signal.SIGINT, 1), (signal.SIGTERM, 2)])
def test_interrupt_fails_the_trial_and_kills_its_runs(tmp_path, sig, n_workers):
    proc = start(tmp_path, "search.n_trials=4", f"search.n_workers={n_workers}")
    wait_until_running(tmp_path, "trial-0000", proc)
    proc.send_signal(sig)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 128 + sig, out[-3000:]
    assert "rerun the same command to resume" in out
    trials = study_of(tmp_path, "search.n_trials=4").trials
    assert trials and all(t.state.name in ("FAIL", "COMPLETE") for t in trials)
    failed = [t for t in trials if t.state.name == "FAIL"]
    # the states and the log's tail say where the signal landed if this fails (once in CI, 2026-11-27: no
    # trial FAIL with two workers under SIGTERM, on a loaded machine; not reproduced in 3 quiet reruns)
    assert failed and all(t.user_attrs["fail_reason"] == "interrupted" for t in failed), (
        [(t.number, t.state.name) for t in trials], out[-3000:])
    parents, children = runs(tmp_path)
    assert parents.iloc[0]["status"] == "KILLED"
    status = dict(zip(children["tags.optuna.trial_number"], children["status"]))
    assert {status[str(t.number)] for t in failed if str(t.number) in status} == {"KILLED"}
    assert "RUNNING" not in set(children["status"])
