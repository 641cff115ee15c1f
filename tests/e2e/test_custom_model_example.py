"""examples/custom_model/ works as its README says: run from a copy of its folder, `python -m tuner
+experiment=digits_custom` finds its conf/ and its module, the export registers a model whose custom layer
comes from that module, and a fresh process elsewhere (neither the example nor its module on its path) loads
the registered version with mlflow.pyfunc, as `mlflow models serve` serves it."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ..conftest import ROOT
from .test_mlflow_models import invoke, serve

pytestmark = pytest.mark.slow  # runs the example's study, its export and a model server in subprocesses
EXAMPLE = ROOT / "examples" / "custom_model"
TINY = ["search.n_trials=2", "search.space.epochs=1", "data.max_samples=400", "pruner=none"]
LOAD = """
import json, sys
import mlflow, numpy as np
mlflow.set_tracking_uri(sys.argv[1])
model = mlflow.pyfunc.load_model("models:/tuner-digits_custom/1")
probs = model.predict(np.asarray(json.loads(sys.argv[2]), dtype=np.uint8))
print(json.dumps({"probs": np.asarray(probs).tolist(), "module": sys.modules["my_model"].__file__,
                  "layers": sorted({type(la).__name__ for m in model.get_raw_model().layers
                                    for la in getattr(m, "layers", [m])})}))
"""


def python(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, *args], check=False, cwd=cwd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    return done


def test_the_custom_model_example_runs_exports_and_loads_in_a_fresh_process(tmp_path):
    folder = tmp_path / "custom_model"
    shutil.copytree(EXAMPLE, folder)
    python(folder, "-m", "tuner", "+experiment=digits_custom", *TINY)
    exported = python(folder, "-m", "tuner.export", "+experiment=digits_custom", "data.max_samples=400")
    assert "registered as model 'tuner-digits_custom' version 1" in exported.stdout + exported.stderr
    assert (folder / "experiments" / "digits_custom" / "submission.csv").exists()

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    images = np.random.default_rng(0).integers(0, 256, (3, 28, 28, 1)).astype(np.uint8)
    loaded = json.loads(python(elsewhere, "-c", LOAD, uri, json.dumps(images.tolist())).stdout.strip().splitlines()[-1])
    probs = np.asarray(loaded["probs"])
    assert probs.shape == (3, 10)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    assert "ChannelScale" in loaded["layers"], "the custom layer came back, with safe mode on"
    module = Path(loaded["module"])
    assert module.parent.name == "code" and module != folder / "my_model.py", "my_model came with the model"

    proc, url = serve(uri, "models:/tuner-digits_custom/1", elsewhere)
    try:
        np.testing.assert_allclose(invoke(url, images), probs, atol=1e-5)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)
