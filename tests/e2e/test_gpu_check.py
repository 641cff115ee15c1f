"""bench/gpu_check.py's smoke run (--cpu): every part runs on the CPU with tiny caps and leaves figures in
its JSON, written to --out and, like every benchmark, to a results file (here under $TUNER_BENCH_RESULTS)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from ..conftest import ROOT

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, subprocess.CompletedProcess]:
    tmp = tmp_path_factory.mktemp("gpu_check")
    env = dict(os.environ, TUNER_BENCH_RESULTS=str(tmp / "results"), TUNER_CACHE_DIR=str(tmp / "cache"),
               PYTHONPATH=os.pathsep.join([str(ROOT / "src"), *filter(None, [os.environ.get("PYTHONPATH")])]))
    env.pop("OUT", None)
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "gpu_check.py"), "--cpu", "--out", str(tmp / "out")],
                          env=env, cwd=tmp, check=False, capture_output=True, text=True, timeout=420)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    figures = json.loads((tmp / "out" / "gpu_check.json").read_text())
    saved = list((tmp / "results").glob("gpu_check-*.json"))
    assert len(saved) == 1 and json.loads(saved[0].read_text())["figures"] == figures
    assert (tmp / "out" / saved[0].name).is_file()  # the results file comes back from a device's $OUT too
    return figures, done


def test_issue_21s_keys_are_accepted(smoke) -> None:
    figures, _ = smoke
    assert figures["core_keys_accepted"] == {"backend": True, "device.trials_per_gpu": True}


def test_the_speed_part_trains_on_every_backend_here(smoke) -> None:
    figures, _ = smoke
    speed = figures["parts"]["speed"]
    importable = [b for b, ok in figures["backends_importable"].items() if ok]
    assert "error" not in speed and importable
    assert list(speed["models"]) == ["tiny_cnn"]
    for backend in importable:
        run = speed["runs"][f"{backend}/tiny_cnn/float32"]
        assert run["backend"] == backend and run["dtype_policy"] == "float32", run
        assert run["images_per_s"] > 0 and len(run["epoch_s"]) == 2 and 0 <= run["val_accuracy"] <= 1
    # on a CPU the mixed-precision run stays float32 and says so
    assert all(v["helps"] is None and "no GPU" in v["why"] for v in speed["mixed_precision"].values())
    assert speed["mixed_precision"]


def test_trials_per_minute_for_each_k(smoke) -> None:
    figures, _ = smoke
    race = figures["parts"]["trials_per_gpu"]
    assert "error" not in race, race
    assert set(race["by_k"]) == {"1", "2"}
    for k, study in race["by_k"].items():
        assert study["exit_code"] == 0 and study["finished"] >= 1, (k, study)
        assert race["trials_per_minute"][k] > 0 and study["images_per_s_per_trial"]["mean"] > 0


def test_a_digits_study_on_jax_and_on_torch(smoke) -> None:
    figures, _ = smoke
    for backend in ("jax", "torch"):
        study = figures["parts"]["digits"][backend]
        assert "error" not in study, study
        assert study["backend"] == backend and study["finished"] >= 1
        assert 0 <= study["best_val_accuracy"] <= 1 and study["images_per_s_per_trial"]["mean"] > 0
        assert 500 < study["training_images"] < 600  # data.max_samples=800, less 15% validation and 15% test


def test_every_part_reports_the_gpus_load_or_why_not(smoke) -> None:
    figures, _ = smoke
    parts = figures["parts"]
    for part in (parts["speed"], parts["trials_per_gpu"], *parts["digits"].values()):
        assert part["gpu"] == {"samples": 0, "error": "nvidia-smi is not on the PATH"} or part["gpu"]["samples"] > 0
        assert part["seconds"] > 0
    assert figures["mode"] == "cpu" and figures["total_s"] < figures["budget_s"]
