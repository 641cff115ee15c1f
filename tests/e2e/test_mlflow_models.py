"""Issue 19.3, models that MLflow can use: each completed trial's model is an MLflow Keras model (a LoggedModel
of its trial's run, with the trial's final metrics), and every export registers a version of
``tuner-<experiment>`` that ``mlflow.pyfunc`` loads and ``mlflow models serve`` serves from raw uint8 images."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import mlflow
import numpy as np
import pytest
from mlflow.entities import LoggedModelStatus

from tuner.app import export, join_study, run_study
from tuner.data import load_dataset
from tuner.errors import TunerError

from ..conftest import TINY_CNN
from ..runs import free_port

pytestmark = pytest.mark.slow  # trains a study, exports it twice and starts `mlflow models serve`
NAME = "tuner-digits_cnn"
SERVE_START_S = 180


def serve(uri: str, model_uri: str, folder: Path) -> tuple[subprocess.Popen, str]:
    """`mlflow models serve` of ``model_uri`` on a free port, in its own process group; waits for /ping."""
    port, bin_dir = free_port(), Path(sys.executable).parent  # the server runs `uvicorn`, from the same venv
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    proc = subprocess.Popen(
        [str(bin_dir / "mlflow"), "models", "serve", "-m", model_uri, "--env-manager", "local", "-h", "127.0.0.1",
         "-p", str(port)],
        cwd=folder, env=env, stdout=open(folder / "serve.log", "w"), stderr=subprocess.STDOUT, start_new_session=True)
    url, end = f"http://127.0.0.1:{port}", time.monotonic() + SERVE_START_S
    while True:
        assert proc.poll() is None, (folder / "serve.log").read_text()[-3000:]
        try:
            if urllib.request.urlopen(f"{url}/ping", timeout=2).status == 200:
                return proc, url
        except OSError:
            assert time.monotonic() < end, "mlflow models serve did not answer /ping: " + (
                (folder / "serve.log").read_text()[-3000:])
            time.sleep(0.5)


def invoke(url: str, images: np.ndarray) -> np.ndarray:
    body = json.dumps({"inputs": images.tolist()}).encode()
    request = urllib.request.Request(f"{url}/invocations", data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as answer:
        return np.asarray(json.loads(answer.read())["predictions"])


def test_trial_models_are_ranked_logged_models_and_exports_load_and_serve(make_cfg, workdir):
    cfg = make_cfg("+experiment=digits_cnn", *TINY_CNN)
    run_study(cfg)
    study = join_study(cfg)
    mlflow.set_tracking_uri(cfg.tracking.uri)
    experiment = mlflow.get_experiment_by_name(cfg.name).experiment_id
    models = mlflow.search_logged_models(experiment_ids=[experiment], output_format="list",
                                         order_by=[{"field_name": "metrics.final_val_accuracy", "ascending": False}])
    by_run = {t.user_attrs["mlflow_run_id"]: t for t in study.trials}
    assert sorted(m.source_run_id for m in models) == sorted(by_run)  # one per completed trial, of its run
    for m in models:
        trial, metrics = by_run[m.source_run_id], {x.key: x.value for x in m.metrics}
        assert m.status == LoggedModelStatus.READY and m.name == "model"
        assert metrics["final_val_accuracy"] == pytest.approx(trial.value)
        assert metrics["n_params"] == trial.user_attrs["n_params"] and "seconds" in metrics
        assert m.params["width"] == str(trial.params["width"])
    ranked = [by_run[m.source_run_id].value for m in models]
    assert ranked == sorted(ranked, reverse=True)  # the Models tab can rank trials' models by their metric

    data = load_dataset(cfg.data, cfg.seed)
    images = data.x_test[:5]
    assert images.dtype == np.uint8
    sub = export(cfg)
    assert sub.model_version == 1
    pyfunc = mlflow.pyfunc.load_model(f"models:/{NAME}/1")
    probs = pyfunc.predict(images)
    assert probs.shape == (5, 10) and probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    submitted = [int(line.split(",")[1]) for line in sub.path.read_text().splitlines()[1:6]]
    assert list(np.argmax(probs, axis=1)) == submitted  # the registered version is the submitted model
    meta = pyfunc.metadata
    assert meta.metadata["class_names"] == [str(i) for i in range(10)]
    assert meta.metadata["preprocessing"]["outside_model"].startswith("none")
    assert meta.get_input_schema().inputs[0].shape == (-1, 28, 28, 1)
    assert str(meta.get_input_schema().inputs[0].type) == "uint8"
    assert meta.get_output_schema().inputs[0].shape == (-1, 10)
    assert meta.saved_input_example_info is not None

    proc, url = serve(cfg.tracking.uri, f"models:/{NAME}/1", workdir)
    try:
        served = invoke(url, images)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)
    assert served.shape == (5, 10)
    np.testing.assert_allclose(served, probs, atol=1e-5)

    ensemble = export(make_cfg("+experiment=digits_cnn", *TINY_CNN, "export.ensemble=2", "export.insight=false"))
    assert ensemble.model_version == 2 and len(ensemble.trials) == 2
    averaged = mlflow.pyfunc.load_model(f"models:/{NAME}/2").predict(images)
    assert averaged.shape == (5, 10)
    np.testing.assert_allclose(averaged.sum(axis=1), 1.0, atol=1e-5)
    members = [mlflow.pyfunc.load_model(f"models:/{m.model_id}").predict(images) for m in models
               if by_run[m.source_run_id].number in ensemble.trials]
    np.testing.assert_allclose(averaged, sum(members) / 2, atol=1e-5)  # one model averaging the two members


def test_log_models_false_logs_no_model_and_export_says_so(make_cfg):
    cfg = make_cfg("+experiment=digits_mlp", "search.n_trials=1", "tracking.log_models=false")
    run_study(cfg)
    client = mlflow.MlflowClient(cfg.tracking.uri)
    assert client.search_logged_models([client.get_experiment_by_name(cfg.name).experiment_id]) == []
    with pytest.raises(TunerError, match=r"has a loadable model \(tracking.log_models=false"):
        export(cfg)
