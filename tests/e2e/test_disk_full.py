"""A full disk, for real: a size-limited tmpfs in a mount namespace of its own (``unshare -m``, as root) holds
``experiments/``, ``mlruns/``, ``mlflow.db`` and ``TMPDIR``; ``full_disk.py`` runs the commands on it as it fills
(see there) and this test checks what they left."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import mlflow
import optuna
import pytest

from tuner.study.storage import JournalFile

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0 or shutil.which("unshare") is None,
                       reason="mounting a tmpfs needs root and unshare"),
]
DRIVER = Path(__file__).with_name("full_disk.py")


@pytest.mark.timeout(600)
def test_a_full_disk_fails_the_trial_stops_the_search_keeps_the_submission_and_a_rerun_resumes(tmp_path):
    done = subprocess.run(["unshare", "-m", sys.executable, str(DRIVER), str(tmp_path)], capture_output=True,
                          text=True, timeout=580, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert done.returncode == 0, done.stderr[-3000:]
    steps = json.loads((tmp_path / "steps.json").read_text())
    disk = steps["disk"]
    assert disk not in Path("/proc/mounts").read_text()  # the mount went with its namespace

    export = steps["export"]  # (c) the export cannot write: the previous submission stands, no temporary file
    assert export["rc"] == 2, export["out"][-3000:]
    assert f"disk full: cannot write {disk}/experiments/digits_mlp/submission.csv (the previous submission.csv " \
           "is kept); free space" in export["out"]
    assert export["submission"] == "filename,label\nprevious,7\n"
    assert not [f for f in export["files"] if f.endswith(".tmp")]

    full = steps["full"]  # (a) a model that cannot be saved fails its trial; (b) a full journal stops the search
    assert steps["completed_one"] and steps["failed_one"], full["out"][-3000:]
    assert full["rc"] == 2, full["out"][-3000:]
    assert full["out"].rstrip().splitlines()[-1].endswith(
        f"disk full: cannot append to the study journal {disk}/experiments/digits_mlp/study.journal; free space "
        "on its disk, then rerun the same command to resume (finished trials are kept, the trial that was running "
        "is recorded FAIL)")
    assert "tuner's own code" not in full["out"]

    again = steps["again"]  # (d) the rerun resumes: only whole records, the trials left running FAIL
    assert again["rc"] == 0, again["out"][-3000:]
    assert steps["tmp_left"] == [] and steps["temp_files"] == []
    study = optuna.load_study(study_name="digits_mlp",
                              storage=optuna.storages.JournalStorage(JournalFile(str(tmp_path / "study.journal"))))
    states = [t.state.name for t in study.trials]
    assert states.count("COMPLETE") == 3 and states[0] == "COMPLETE" and "RUNNING" not in states
    assert study.trials[1].state.name == "FAIL"
    assert study.trials[1].user_attrs["fail_reason"].startswith(f"disk full: {disk}/")
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    runs = mlflow.search_runs(experiment_names=["digits_mlp"], output_format="pandas")
    assert "RUNNING" not in set(runs["status"])
    children = runs[runs["tags.mlflow.parentRunId"].notna()]
    assert children["tags.optuna.trial_number"].is_unique
    completed = {str(t.number) for t in study.trials if t.state.name == "COMPLETE"}
    status = dict(zip(children["tags.optuna.trial_number"], children["status"]))
    assert all(status[n] == "FINISHED" for n in completed)
