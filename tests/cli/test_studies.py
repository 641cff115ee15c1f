"""``python -m tuner.studies`` as a user types it: the table, the exit codes, what delete says it did."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import optuna
import pytest

from tuner.study import StudyRef, storage_for

pytestmark = pytest.mark.slow  # every test runs the command in a subprocess


def studies(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tuner.studies", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


def test_list_and_delete_from_the_command_line(tmp_path):
    ref = StudyRef("digits_cnn", str(tmp_path / "experiments"))
    study = optuna.create_study(study_name=ref.name, storage=storage_for(ref), direction="maximize")
    study.optimize(lambda t: [0.5, 0.75][t.number], n_trials=2)
    mlflow_db = f"tracking.uri=sqlite:///{tmp_path / 'mlflow.db'}"

    listed = studies(tmp_path, "list")  # experiments/ under the current folder by default
    assert listed.returncode == 0, listed.stderr
    header, row = listed.stdout.splitlines()
    assert header.split() == ["study", "trials", "best", "storage"]
    assert row.split() == ["digits_cnn", "2:", "2", "COMPLETE", "value", "0.75", "(trial", "1)",
                           "experiments/digits_cnn/study.journal"]

    unknown = studies(tmp_path, "delete", "digits_cnm", mlflow_db)
    assert unknown.returncode == 2
    assert "no study 'digits_cnm'" in unknown.stderr and "studies tuner finds are: digits_cnn" in unknown.stderr
    assert studies(tmp_path, "delete").returncode == 2  # no NAME: the usage, exit 2

    deleted = studies(tmp_path, "delete", "digits_cnn", mlflow_db)
    assert deleted.returncode == 0, deleted.stderr
    assert deleted.stdout.splitlines() == [
        "deleted study digits_cnn from experiments/digits_cnn/study.journal",
        (f"left its MLflow experiment digits_cnn ({mlflow_db}) and experiments/digits_cnn/ as they are; "
         "add --all to delete them too")]
    assert studies(tmp_path, "list").stdout.strip() == "no studies found"

    everything = studies(tmp_path, "delete", mlflow_db, "--all", "digits_cnn")  # flags and overrides in any order
    assert everything.returncode == 0, everything.stderr
    assert everything.stdout.splitlines() == [
        "no Optuna study digits_cnn in experiments/digits_cnn/study.journal (deleted before)",
        f"no MLflow experiment digits_cnn at {mlflow_db}", "removed experiments/digits_cnn/"]
    assert not (tmp_path / "experiments" / "digits_cnn").exists()
