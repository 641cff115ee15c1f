"""tuner on JAX and PyTorch, in fresh processes (TensorFlow, the default, runs everywhere else): TensorFlow
stays installed but any import of it fails and is logged (``import_guard/sitecustomize.py``), so a test sees
even an import whose error was swallowed. A study in two workers, its export and a replay per backend;
every shipped experiment on each; a backend whose package is missing stops before any data loads."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import mlflow
import pandas as pd
import pytest

from ..conftest import TINY, TINY_CNN
from .test_experiments import EXPERIMENTS, task_data

pytestmark = pytest.mark.slow  # each test runs tuner's commands in processes of their own
GUARD = Path(__file__).with_name("import_guard")
SRC = Path(__file__).resolve().parents[2] / "src"
STUDY = ["+experiment=digits_cnn", *TINY, *TINY_CNN, "search.n_trials=2"]
WORKERS = ["search.n_workers=2"]  # the study runs in two worker processes: each sets the backend before Keras loads


def python(cwd: Path, *argv: str, block: str = "", absent: str = "",
           backend_env: str | None = None) -> subprocess.CompletedProcess:
    """``python *argv`` in ``cwd`` with the import guard; ``backend_env``: the KERAS_BACKEND it starts with."""
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    env.update(PYTHONPATH=os.pathsep.join([str(GUARD), str(SRC)]), TUNER_TEST_BLOCK=block, TUNER_TEST_ABSENT=absent,
               TUNER_TEST_BLOCK_LOG=str(cwd / "blocked-imports.log"), TF_CPP_MIN_LOG_LEVEL="3")
    if backend_env:
        env["KERAS_BACKEND"] = backend_env
    return subprocess.run([sys.executable, *argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=900)


def tuner(cwd: Path, module: str, *args: str, **guard: str) -> subprocess.CompletedProcess:
    return python(cwd, "-m", module, *args, **guard)


def ok(done: subprocess.CompletedProcess) -> str:
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-4000:]
    return out


def no_tensorflow_import(folder: Path) -> None:
    log = folder / "blocked-imports.log"
    assert not log.exists(), log.read_text()[:4000]


@pytest.mark.parametrize("backend", ["jax", "torch"])  # TensorFlow's: tests/cli/test_commands.py
def test_a_study_its_export_and_a_replay_run_on_the_backend(backend, tmp_path):
    block = "tensorflow"
    args = [*STUDY, f"backend={backend}"]
    ok(tuner(tmp_path, "tuner", *args, *WORKERS, block=block))
    exported = ok(tuner(tmp_path, "tuner.export", *args, block=block))
    replayed = ok(tuner(tmp_path, "tuner.replay", *args, "trial=0", block=block))
    no_tensorflow_import(tmp_path)

    assert "insight not logged" not in exported
    submission = pd.read_csv(tmp_path / "experiments/digits_cnn/submission.csv")
    assert list(submission.columns) == ["filename", "label"] and len(submission) == 60
    assert set(submission["label"]) <= set(range(10))
    assert "(difference 0;" in replayed, replayed[-2000:]  # same seeds, same numbers: deterministic here

    client = mlflow.MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("digits_cnn")
    runs = client.search_runs([experiment.experiment_id])
    assert {r.data.tags.get("tuner.backend") for r in runs} == {backend}  # the parent and every trial
    trials = [r for r in runs if r.data.tags.get("tuner.kind") != "study"]
    assert len(trials) == 2 and all(f"backend={backend}" in r.data.tags["tuner.replay"] for r in trials)
    parent = next(r for r in runs if r.data.tags.get("tuner.kind") == "study")
    assert "saliency.png" in {a.path.rsplit("/", 1)[-1] for a in client.list_artifacts(parent.info.run_id,
                                                                                         "best_model")}


# JAX compiles each model (about 7 s an experiment here): it runs one experiment of each task and architecture
# family, the MLP twins and tutorials sharing their code paths; PyTorch runs every shipped experiment
ON_JAX = ["cifar_cnn", "digits_cnn", "digits_mlp", "fashion_cnn", "images_cnn"]


@pytest.mark.parametrize("backend, names", [("jax", ON_JAX), ("torch", EXPERIMENTS)])
def test_every_experiment_runs_one_trial_on_the_backend(backend, names, tmp_path):
    # one process runs them all through the Python API; KERAS_BACKEND gives the backend (config default)
    assert set(names) <= set(EXPERIMENTS)
    runs = {name: [f"+experiment={name}", *TINY, *TINY_CNN, "search.n_trials=1", "search.enqueue=[]",
                   *task_data(name, tmp_path)] for name in names}
    (tmp_path / "runs.json").write_text(json.dumps(runs))
    script = ("import json, sys, tuner\n"
              "for name, overrides in json.load(open('runs.json')).items():\n"
              "    print(name, tuner.run(overrides), flush=True)\n")
    out = ok(python(tmp_path, "-c", script, block="tensorflow", backend_env=backend))
    no_tensorflow_import(tmp_path)
    finished = dict(line.split(" ", 1) for line in out.splitlines() if line.split(" ", 1)[0] in runs)
    assert set(finished) == set(runs)
    assert all(0.0 <= float(value) <= 1.0 for value in finished.values())


@pytest.mark.parametrize("backend, extra", [("jax", "tuner[jax]"), ("torch", "tuner[torch]")])
def test_a_backend_that_is_not_installed_stops_before_any_data_loads(backend, extra, tmp_path):
    done = tuner(tmp_path, "tuner", "+experiment=digits_cnn", f"backend={backend}", absent=backend)
    out = done.stdout + done.stderr
    assert done.returncode == 2, out[-3000:]
    assert f"backend={backend}, but {backend} is not installed here: pip install '{extra}'" in out
    assert "Traceback" not in out
    assert not (tmp_path / "mlflow.db").exists() and not (tmp_path / "experiments/digits_cnn/study.journal").exists()


def test_an_unknown_backend_is_a_config_error(tmp_path):
    done = tuner(tmp_path, "tuner", "+experiment=digits_cnn", "backend=mxnet")
    assert done.returncode == 2
    assert "backend=mxnet: Keras has no such backend; use one of tensorflow, jax, torch" in done.stdout + done.stderr


def test_on_jax_an_augmented_model_trains_with_xla(tmp_path):
    # Keras marks its random affine layers not XLA-compilable on every backend; on JAX tuner's input stage
    # says they are, so the train step compiles instead of running op by op
    script = ("import numpy as np, tuner.config as c; c.use_backend('jax')\n"
              "from tuner.models import build_model\n"
              "from tuner.training import compile_model\n"
              "hp = {'arch': 'cnn', 'width': 8, 'depth': 1, 'dropout': 0.0, 'activation': 'relu',\n"
              "      'initializer': 'he_normal', 'filters': 4, 'kernel_size': 3, 'pooling': 'max', 'padding': 'same',\n"
              "      'batch_norm': False, 'optimizer': 'adam', 'learning_rate': 1e-3, 'augment_shift': 0.1,\n"
              "      'augment_rotation': 10.0, 'augment_zoom': 0.1}\n"
              "model = build_model(hp, (28, 28, 1), 10)\n"
              "compile_model(model, hp)\n"
              "x = np.random.randint(0, 255, (64, 28, 28, 1), dtype=np.uint8)\n"
              "model.fit(x, np.arange(64) % 10, batch_size=32, epochs=1, verbose=0)\n"
              "print('jit', model.jit_compile)\n")
    out = ok(python(tmp_path, "-c", script, block="tensorflow"))
    assert "jit True" in out
    no_tensorflow_import(tmp_path)
