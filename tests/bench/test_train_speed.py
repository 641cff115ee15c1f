"""bench/train_speed.py's backends mode: one child process per Keras backend, its figures summarised per model,
and a child's failure recorded while the others go on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from bench._common import RESULTS_ENV
from bench.train_speed import MODELS, main, summarise

from tuner.config import BACKENDS

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "bench" / "train_speed.py"
SMALL = ["--hp", "depth=1", "--hp", "filters=8", "--hp", "width=16"]


def row(backend: str, model: str, rate: int, cpu_rate: int, repeat: int = 1) -> dict:
    return {"repeat": repeat, "backend": backend, "model": model, "load_1min": 1.0, "images_per_s": rate,
            "images_per_cpu_s": cpu_rate, "xla_used": False}


def test_the_summary_keeps_each_backends_better_round_and_divides_by_tensorflows() -> None:
    runs = [row("tensorflow", "fashion_cnn", 400, 300), row("tensorflow", "fashion_cnn", 500, 250, repeat=2),
            row("jax", "fashion_cnn", 600, 100), row("jax", "fashion_cnn", 200, 150, repeat=2),
            row("tensorflow", "digits_cnn", 1000, 900), row("jax", "digits_cnn", 800, 1800)]
    summary, fastest, ratio = summarise(runs, ["tensorflow", "jax"])
    by = {(r["model"], r["backend"]): r for r in summary}
    assert (by["fashion_cnn", "tensorflow"]["images_per_s"], by["fashion_cnn", "tensorflow"]["images_per_cpu_s"]) \
        == (500, 300)  # the best of each figure over the rounds
    assert by["fashion_cnn", "jax"]["ratio_to_tensorflow"] == 1.2
    assert by["fashion_cnn", "jax"]["cpu_s_ratio_to_tensorflow"] == 0.5
    assert by["digits_cnn", "jax"]["ratio_to_tensorflow"] == 0.8
    assert by["digits_cnn", "jax"]["cpu_s_ratio_to_tensorflow"] == 2.0
    assert fastest == {"fashion_cnn": "jax", "digits_cnn": "tensorflow"}  # by wall images/s
    assert ratio == {"fashion_cnn": 1.2, "digits_cnn": 1.0}


def test_a_failed_backend_has_its_error_and_no_figures_and_without_tensorflow_no_ratio() -> None:
    runs = [row("jax", m, 300, 200) for m in MODELS] + \
           [{"repeat": 1, "backend": "tensorflow", "model": m, "error": "ConfigError: not installed"} for m in MODELS]
    summary, fastest, ratio = summarise(runs, ["tensorflow", "jax"])
    failed = [r for r in summary if r["backend"] == "tensorflow"]
    assert [r["error"] for r in failed] == ["ConfigError: not installed"] * 2
    assert all(r["images_per_s"] is None for r in failed)
    assert [r["images_per_s"] for r in summary if r["backend"] == "jax"] == [300, 300]
    assert all(r["ratio_to_tensorflow"] is None for r in summary)  # nothing to divide by
    assert fastest == {m: "jax" for m in MODELS} and ratio == {m: None for m in MODELS}


def bench(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess, dict]:
    env = {**os.environ, RESULTS_ENV: str(tmp_path)}
    done = subprocess.run([sys.executable, str(SCRIPT), *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600, check=False)
    files = list(tmp_path.glob("train_speed-*.json"))
    assert done.returncode == 0 and len(files) == 1, done.stdout[-3000:] + done.stderr[-3000:]
    return done, json.loads(files[0].read_text())


@pytest.mark.slow
def test_backends_mode_measures_both_models_on_every_backend(tmp_path: Path) -> None:
    # a small Fashion CNN: jax runs it eagerly (Keras cannot jit its random translation), compiling op by op
    done, record = bench(tmp_path, "1", "backends", "--repeats", "1", *SMALL)
    figures = record["figures"]
    assert figures["mode"] == "backends" and figures["batches"] == 1 and figures["backends"] == list(BACKENDS)
    assert figures["models"]["fashion_cnn"]["hp"]["filters"] == 8  # --hp reached the children
    assert {(r["backend"], r["model"]) for r in figures["runs"]} == {(b, m) for b in BACKENDS for m in MODELS}
    for r in figures["runs"]:
        assert "error" not in r, r
        assert r["images_per_s"] > 0 and r["images_per_cpu_s"] > 0 and r["load_1min"] >= 0 and r["deterministic"]
    for r in figures["summary"]:
        assert r["images_per_s"] > 0 and r["ratio_to_tensorflow"] > 0
    assert all(r["ratio_to_tensorflow"] == 1.0 for r in figures["summary"] if r["backend"] == "tensorflow")
    assert set(figures["fastest"]) == set(MODELS) and set(figures["fastest"].values()) <= set(BACKENDS)
    assert all(figures["versions"][p] for p in ("keras", "tensorflow", "jax", "torch"))
    assert "fastest on fashion_cnn:" in done.stdout and "activate" in done.stdout


@pytest.mark.slow
def test_a_model_that_fails_in_a_child_is_recorded_and_the_other_still_runs(tmp_path: Path) -> None:
    # --set goes to the Fashion CNN's experiment only: a key the config does not have fails its compose
    _, record = bench(tmp_path, "1", "backends", "--repeats", "1", "--backends", "torch",
                      "--set", "data.no_such_key=1")
    runs = {r["model"]: r for r in record["figures"]["runs"]}
    assert "no_such_key" in runs["fashion_cnn"]["error"] and "images_per_s" not in runs["fashion_cnn"]
    assert runs["digits_cnn"]["images_per_s"] > 0 and "error" not in runs["digits_cnn"]
    assert record["figures"]["fastest"] == {"digits_cnn": "torch"}


@pytest.mark.parametrize("args, message", [(["x", "backends"], "whole number of batches"),
                                           (["2", "backends", "--repeats", "0"], "--repeats 0"),
                                           (["2", "backends", "--backends", "jax,mxnet"], "at most once"),
                                           (["2", "backends", "--repeats"], "needs a value"),
                                           (["2", "backends", "extra"], "unexpected arguments extra")])
def test_bad_arguments_are_refused_before_any_child_starts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           args: list[str], message: str) -> None:
    monkeypatch.setenv(RESULTS_ENV, str(tmp_path))
    with pytest.raises(SystemExit, match=message):
        main(args)
    assert list(tmp_path.iterdir()) == []
