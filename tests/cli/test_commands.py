"""The commands as a user types them, in a fresh folder, through Hydra."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import mlflow
import pytest

from ..conftest import TINY

pytestmark = pytest.mark.slow  # every test runs a command in a subprocess
CLI_TINY = [o for o in TINY if not o.startswith("search.n_trials")] + ["search.space.filters=4"]


def tuner(cwd: Path, *args: str, module: str = "tuner") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", module, *args], cwd=cwd, capture_output=True, text=True, timeout=600)


def test_run_export_and_replay_from_a_fresh_folder(tmp_path):
    done = tuner(tmp_path, "+experiment=digits_cnn", "search.n_trials=2", *CLI_TINY)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "mlflow.db").exists() and (tmp_path / "mlruns").is_dir()
    invocations = list((tmp_path / "experiments/digits_cnn/runs").iterdir())
    assert len(invocations) == 1 and (invocations[0] / ".hydra/config.yaml").exists()
    assert (invocations[0] / "tuner.log").read_text().count("COMPLETE") == 2

    exported = tuner(tmp_path, "+experiment=digits_cnn", *CLI_TINY, module="tuner.export")
    assert exported.returncode == 0, exported.stderr[-3000:]
    assert "test accuracy 0." in exported.stdout
    assert (tmp_path / "experiments/digits_cnn/submission.csv").read_text().startswith("filename,label\n")

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    trials = mlflow.search_runs(experiment_names=["digits_cnn"], filter_string="tags.`optuna.trial_number` = '1'")
    original = trials.iloc[0]
    replay = shlex.split(original["tags.tuner.replay"])
    assert replay[:3] == ["python", "-m", "tuner"]
    assert original["tags.tuner.backend"] == "tensorflow" and "backend=tensorflow" in replay  # the default backend
    again = tuner(tmp_path, *replay[3:])
    assert again.returncode == 0, again.stderr[-3000:]
    replayed = mlflow.search_runs(experiment_names=["digits_cnn_replay_t1"],
                                  filter_string="tags.`optuna.trial_number` = '0'").iloc[0]
    for key in [k for k in original.index if k.startswith("params.")]:
        assert replayed[key] == original[key], key
    # same hyperparameters, data and seed, TensorFlow op determinism on: on CPU the numbers come back exactly
    assert replayed["metrics.val_accuracy"] == original["metrics.val_accuracy"]
    assert replayed["metrics.val_loss"] == original["metrics.val_loss"]


def test_bad_space_exits_non_zero_naming_the_key(tmp_path):
    done = tuner(tmp_path, "+experiment=digits_cnn", "search.space.optimizer={type:categorical,choices:[adamm]}")
    assert done.returncode == 2
    assert "unknown value 'adamm' at search.space.optimizer; choose one of:" in done.stdout + done.stderr
    assert not (tmp_path / "mlflow.db").exists()


def test_misspelt_key_exits_non_zero(tmp_path):
    done = tuner(tmp_path, "+experiment=digits_cnn", "search.n_trial=3")
    assert done.returncode != 0
    assert "search.n_trial" in done.stderr


def test_export_before_any_run_exits_non_zero(tmp_path):
    done = tuner(tmp_path, "+experiment=digits_cnn", module="tuner.export")
    assert done.returncode == 2
    assert "no study 'digits_cnn'" in done.stdout + done.stderr
    assert not (tmp_path / "experiments/digits_cnn/submission.csv").exists()
