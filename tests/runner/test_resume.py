"""Crash-safe resume through the real command: SIGKILL, SIGTERM and Ctrl-C in the middle of a trial."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
import weakref
from pathlib import Path

import mlflow
import optuna
import pytest

from tuner.app import join_study
from tuner.config import compose
from tuner.errors import TrialFailed
from tuner.runner.coordinate import Interrupted, guard_slot, interrupts_once
from tuner.tracking.tracker import Tracker

from ..conftest import TINY

pytestmark = pytest.mark.slow  # every test runs the command in a subprocess and signals it
# long enough per trial (several epochs) to be caught in the middle of one
ARGS = ["+experiment=digits_mlp", *[o for o in TINY if not o.startswith(("search.space.epochs", "data.max"))],
        "data.max_samples=800", "search.space.epochs=6", "search.space.batch_size=16"]


def start(cwd: Path, *extra: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "tuner", *ARGS, *extra], cwd=cwd, env=env,
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
    assert_interrupted(tmp_path, proc, sig)


def assert_interrupted(tmp_path: Path, proc: subprocess.Popen, sig: int) -> None:
    """The run stopped: the interrupted trials FAIL as ``interrupted``, their runs and the parent run KILLED."""
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 128 + sig, out[-3000:]
    assert "rerun the same command to resume" in out
    trials = study_of(tmp_path, "search.n_trials=4").trials
    assert trials and all(t.state.name in ("FAIL", "COMPLETE") for t in trials)
    failed = [t for t in trials if t.state.name == "FAIL"]
    # the states and the log's tail say where the signal landed if this fails (it did in CI, 2026-11-27: the
    # interrupt was lost inside TensorFlow, and that worker ran the study to its budget; see below)
    assert failed and all(t.user_attrs["fail_reason"] == "interrupted" for t in failed), (
        [(t.number, t.state.name) for t in trials], out[-3000:])
    parents, children = runs(tmp_path)
    assert parents.iloc[0]["status"] == "KILLED"
    status = dict(zip(children["tags.optuna.trial_number"], children["status"]))
    assert {status[str(t.number)] for t in failed if str(t.number) in status} == {"KILLED"}
    assert "RUNNING" not in set(children["status"])


# Where the signal lands inside TensorFlow, the exception its handler raises can be lost on its way out. SIGTERM
# sent at random moments of trials lost 8 of 80: 4 were raised in a weakref callback (WeakKeyDictionary's), where
# Python drops them; 4 came out of TensorFlow's C++ code as its own error (TypeError "Exception encountered when
# calling Flatten.call()" twice, SystemError "bad argument to internal function", pybind11's RuntimeError "...
# REPLACED BY Interrupted: SIGTERM"), and failed the trial as a model error. With every later signal ignored, that
# worker then ran the study to its budget: no trial FAIL, the CI failure above.

# Test-only, written to a folder put on PYTHONPATH: the first worker to start a fit runs it from a weakref callback
# that waits for a signal (writing its pid to TRAPPED when it starts waiting), so that the handler runs there and
# what it raises is dropped, as in the CI failure.
TRAP = """
import importlib.abc, importlib.util, os, sys, time, weakref


class Key:
    pass


def hold(_):
    with open(os.environ["TRAPPED"] + ".tmp", "w") as f:
        f.write(str(os.getpid()))
    os.rename(os.environ["TRAPPED"] + ".tmp", os.environ["TRAPPED"])
    end = time.monotonic() + 60
    while time.monotonic() < end:  # until the signal's handler raises in here
        time.sleep(0.01)


def trap():
    try:
        os.close(os.open(os.environ["TRAPPED"] + ".claim", os.O_CREAT | os.O_EXCL))
    except FileExistsError:
        return  # another worker holds it
    key = Key()
    ref = weakref.ref(key, hold)
    del key  # hold() runs now
    assert ref() is None


class Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name != "tuner.training.fit":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        load = spec.loader.exec_module

        def exec_module(module):
            load(module)
            train, trapped = module.train, []

            def first_trapped(*args, **kwargs):
                if not trapped:
                    trapped.append(True)
                    trap()
                return train(*args, **kwargs)

            module.train = first_trapped

        spec.loader.exec_module = exec_module
        return spec


sys.meta_path.insert(0, Finder())
"""


@pytest.mark.slow
def test_sigterm_dropped_inside_a_worker_still_fails_its_trial(tmp_path):
    site, trapped = tmp_path / "site", tmp_path / "trapped"
    site.mkdir()
    (site / "sitecustomize.py").write_text(TRAP)
    path = os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH")) if p)
    proc = start(tmp_path, "search.n_trials=4", "search.n_workers=2",
                 env={**os.environ, "PYTHONPATH": path, "TRAPPED": str(trapped)})
    end = time.monotonic() + 180
    while not trapped.exists():
        assert proc.poll() is None and time.monotonic() < end, proc.stdout.read()[-3000:]
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    assert_interrupted(tmp_path, proc, signal.SIGTERM)
    pid = int(trapped.read_text())
    held = [t for t in study_of(tmp_path, "search.n_trials=4").trials if t.user_attrs.get("worker_pid") == pid]
    assert [(t.state.name, t.user_attrs.get("fail_reason")) for t in held] == [("FAIL", "interrupted")]


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # the drop it makes
def test_an_interrupt_dropped_in_a_weakref_callback_is_raised_again():
    class Key:
        pass

    key = Key()
    ref = weakref.ref(key, lambda _: signal.raise_signal(signal.SIGTERM))  # the handler runs in the callback
    went_on = []
    start = time.monotonic()
    with pytest.raises(Interrupted) as caught, interrupts_once():
        del key
        for _ in range(300):
            time.sleep(0.01)
        went_on.append(True)
    assert ref() is None and caught.value.signum == signal.SIGTERM
    assert not went_on and time.monotonic() - start < 2.0


def test_an_interrupt_swallowed_inside_a_trial_is_raised_again_in_it():
    study = optuna.create_study()
    went_on = []

    def objective(trial):
        try:
            signal.raise_signal(signal.SIGTERM)
        except KeyboardInterrupt:
            pass  # what C code does that clears the error it met and goes on
        for _ in range(300):
            time.sleep(0.01)
        went_on.append(True)
        return 1.0

    with pytest.raises(Interrupted), interrupts_once():
        study.optimize(guard_slot(objective, 3, None), n_trials=3)
    assert [(t.state.name, t.user_attrs.get("fail_reason")) for t in study.trials] == [("FAIL", "interrupted")]
    assert not went_on


def test_an_interrupt_that_comes_out_of_a_trial_as_another_error_fails_it_as_interrupted(tmp_path):
    tracker = Tracker(f"sqlite:///{tmp_path / 'mlflow.db'}", "interrupted")
    parent_id = tracker.open_parent(None, "study-interrupted")
    study = optuna.create_study()
    reason = "TypeError: Failed to convert elements of (None, 784) to Tensor"

    def objective(trial):  # as the real one: another error fails the trial, its run closed FAILED
        run_id = tracker.start_trial(parent_id, trial.number, {}, {})
        trial.set_user_attr("mlflow_run_id", run_id)
        try:
            signal.raise_signal(signal.SIGTERM)
        except KeyboardInterrupt:  # TensorFlow's C++ code met it and raised its own
            time.sleep(0.3)  # a slow cleanup, as closing the run: not interrupted again
            tracker.end_trial(run_id, "FAIL", {}, {"optuna.fail_reason": reason})
            trial.set_user_attr("fail_reason", reason)
            raise TrialFailed(reason) from None
        return 1.0

    with pytest.raises(Interrupted), interrupts_once():
        study.optimize(guard_slot(objective, 3, tracker), n_trials=3, catch=(TrialFailed,))
    [trial] = study.trials
    assert trial.state.name == "FAIL" and trial.user_attrs["fail_reason"] == "interrupted"
    run = tracker.client.get_run(trial.user_attrs["mlflow_run_id"])
    assert run.info.status == "KILLED" and run.data.tags["optuna.fail_reason"] == "interrupted"


def test_the_cleanup_of_an_interrupted_trial_is_not_interrupted():
    study = optuna.create_study()
    cleaned = []

    def objective(trial):
        try:
            signal.raise_signal(signal.SIGTERM)
        finally:
            os.kill(os.getpid(), signal.SIGTERM)  # a second signal, and the retries, while it cleans up
            time.sleep(0.5)
            cleaned.append(True)
        return 1.0

    with pytest.raises(Interrupted), interrupts_once():
        study.optimize(guard_slot(objective, 3, None), n_trials=3)
    assert cleaned == [True]
    assert [(t.state.name, t.user_attrs.get("fail_reason")) for t in study.trials] == [("FAIL", "interrupted")]
