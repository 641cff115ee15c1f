"""Device placement (pure, no GPU needed), mixed precision, out-of-memory trials, determinism."""

from __future__ import annotations

import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from tuner.app import join_study, run_study
from tuner.config import compose, validate
from tuner.errors import ConfigError
from tuner.models.builder import build_model, new_session
from tuner.training.device import (
    ALL_GPUS_ENV,
    FRACTION_ENV,
    GPU_MB_ENV,
    assign,
    default_workers,
    failure_reason,
    gpu_memory_mb,
    plan,
    sharing,
    visible_gpus,
)

CNN = {"arch": "cnn", "width": 16, "depth": 1, "dropout": 0.0, "activation": "relu", "initializer": "he_normal",
       "filters": 8, "kernel_size": 3, "pooling": "max", "padding": "same", "batch_norm": False}


def test_worker_i_gets_gpu_i_mod_n():
    assert [assign(["0", "1", "2"], i, 5) for i in range(5)] == ["0", "1", "2", "0", "1"]
    assert [assign(["3", "5"], i, 2) for i in range(2)] == ["3", "5"]  # ids as CUDA_VISIBLE_DEVICES names them
    assert assign([], 0, 2) is None
    with pytest.raises(ValueError):
        assign(["0"], 2, 2)


def test_visible_gpus_from_the_environment_or_the_driver(tmp_path):
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": "2, 3"}) == ["2", "3"]
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": ""}) == visible_gpus({"CUDA_VISIBLE_DEVICES": "-1"}) == []
    assert visible_gpus({ALL_GPUS_ENV: "0,1", "CUDA_VISIBLE_DEVICES": "1"}) == ["0", "1"]  # a worker re-assigns
    for pci in ("0000:01:00.0", "0000:02:00.0"):
        (tmp_path / pci).mkdir()
    assert visible_gpus({}, tmp_path) == ["0", "1"]
    assert visible_gpus({}, tmp_path / "no-driver") == []


def test_placement_per_kind():
    two = ["0", "1"]
    assert plan("cpu", False, two).env == {"CUDA_VISIBLE_DEVICES": "", "JAX_PLATFORMS": "cpu"}
    second = plan("auto", True, two, worker_index=1, n_workers=2)
    assert second.gpu == "1" and second.mixed_precision and second.memory_fraction is None
    assert second.env == {"CUDA_VISIBLE_DEVICES": "1", "TF_FORCE_GPU_ALLOW_GROWTH": "true",
                          "XLA_PYTHON_CLIENT_PREALLOCATE": "false"}
    exact = plan("gpu", False, two, 0, 2, deterministic=True).env
    assert "--xla_gpu_deterministic_ops=true" in exact["XLA_FLAGS"].split() and exact["CUBLAS_WORKSPACE_CONFIG"]
    assert plan("gpu", False, two, 2, 3).env["CUDA_VISIBLE_DEVICES"] == "0"
    on_cpu = plan("auto", True, [])
    assert on_cpu.gpu is None and not on_cpu.mixed_precision and on_cpu.env == {}
    with pytest.raises(ConfigError, match="device=gpu but no GPU is visible"):
        plan("gpu", False, [])


def test_workers_sharing_a_gpu_split_its_memory():
    # 4 workers on one GPU: each caps its backend at 0.9 / 4 of the card (no other setting needed)
    placements = [plan("auto", False, ["0"], i, 4, gpu_memory_mb={"0": 143771}) for i in range(4)]
    assert {p.gpu for p in placements} == {"0"} and {p.memory_fraction for p in placements} == {0.225}
    env = placements[0].env
    assert env["XLA_PYTHON_CLIENT_MEM_FRACTION"] == env[FRACTION_ENV] == "0.225"  # JAX; PyTorch and TF read ours
    assert env[GPU_MB_ENV] == "143771" and "TF_FORCE_GPU_ALLOW_GROWTH" not in env  # TF: a logical device instead
    # 3 workers on 2 GPUs: GPU 0 holds workers 0 and 2 (half each), GPU 1 worker 1 alone (all of it)
    assert [sharing(["0", "1"], i, 3) for i in range(3)] == [2, 1, 2]
    assert plan("auto", False, ["0", "1"], 1, 3).memory_fraction is None
    assert plan("auto", False, ["0", "1"], 2, 3).memory_fraction == 0.45


def test_more_workers_on_a_gpu_than_its_memory_can_share_is_refused():
    with pytest.raises(ConfigError, match=r"puts 8 workers on GPU 0: each would get 922 MiB of its 8192 MiB, under "
                                          r"the 1024 MiB a trial needs; use at most 7 per GPU"):
        plan("gpu", False, ["0"], 0, 8, gpu_memory_mb={"0": 8192})
    assert plan("gpu", False, ["0"], 0, 8).memory_fraction == 0.1125  # memory unknown (no nvidia-smi): no floor


def test_default_workers_are_trials_per_gpu_on_each_gpu_and_one_on_a_cpu(caplog):
    assert default_workers("auto", 4, ["0", "1"], 20) == 8
    assert default_workers("gpu", 4, ["0"], 3) == 3  # never more workers than trials
    assert default_workers("auto", 1, ["0", "1"], 20) == 2
    assert default_workers("auto", 4, [], 20) == 1 and "device.trials_per_gpu=4 ignored: no GPU is visible" in caplog.text
    assert default_workers("cpu", 2, ["0"], 20) == 1 and "device.trials_per_gpu=2 ignored: device=cpu" in caplog.text


def test_search_n_workers_null_resolves_per_device_and_an_explicit_count_stands(monkeypatch):
    from tuner.app import settings

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    monkeypatch.delenv(ALL_GPUS_ENV, raising=False)
    assert settings(compose(["device.trials_per_gpu=3"])).search.n_workers == 6
    assert settings(compose(["device.trials_per_gpu=3", "search.n_workers=2"])).search.n_workers == 2
    assert settings(compose(["device=cpu", "device.trials_per_gpu=3"])).search.n_workers == 1
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert settings(compose(["device.trials_per_gpu=3"])).search.n_workers == 1


@pytest.mark.parametrize(("override", "message"), [
    (["device.trials_per_gpu=0"], "device.trials_per_gpu=0: give at least 1 trial per GPU"),
    (["search.n_workers=0"], "search.n_workers=0: give at least 1 worker process, or null"),
    (["device=cpu", "device.mixed_precision=true"], "device.mixed_precision=true needs a GPU"),
    (["device.kind=tpu"], "unknown device 'tpu' at device.kind; choose one of: auto, cpu, gpu"),
])
def test_bad_device_config(override, message):
    with pytest.raises(ConfigError, match=message):
        validate(compose(override))


@pytest.mark.slow
def test_device_gpu_without_a_gpu_exits_2_before_anything_is_written(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != ALL_GPUS_ENV}
    done = subprocess.run([sys.executable, "-m", "tuner", "+experiment=digits_mlp", "device=gpu"], cwd=tmp_path,
                          env={**env, "CUDA_VISIBLE_DEVICES": ""}, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    assert "device=gpu but no GPU is visible" in done.stdout + done.stderr
    assert not (tmp_path / "mlflow.db").exists()


def test_mixed_precision_keeps_the_softmax_in_float32():
    keras.config.set_dtype_policy("mixed_float16")
    try:
        new_session(1)  # a new session keeps the policy
        model = build_model(CNN, (28, 28, 1), 10)
        assert keras.config.dtype_policy().name == "mixed_float16"
    finally:
        keras.config.set_dtype_policy("float32")
    assert model.layers[1].compute_dtype == "float16"
    assert model.layers[-1].compute_dtype == "float32" and model.output.dtype == "float32"
    probabilities = model.predict(np.zeros((2, 28, 28, 1), "float32"), verbose=0)
    assert probabilities.dtype == np.float32 and np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)


def test_failure_reason_names_out_of_memory_on_each_backend():
    import jax
    import torch

    assert failure_reason(tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor\nmore")) == \
        "oom: OOM when allocating tensor"
    assert failure_reason(torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")) == \
        "oom: CUDA out of memory. Tried to allocate 2.00 GiB"
    assert failure_reason(jax.errors.JaxRuntimeError("RESOURCE_EXHAUSTED: Out of memory while trying to allocate")) \
        == "oom: RESOURCE_EXHAUSTED: Out of memory while trying to allocate"
    assert failure_reason(jax.errors.JaxRuntimeError("INTERNAL: a bug")) == "JaxRuntimeError: INTERNAL: a bug"
    assert failure_reason(ValueError("negative dimension")) == "ValueError: negative dimension"


def test_gpu_memory_comes_from_nvidia_smi_and_is_empty_without_it(tmp_path):
    smi = tmp_path / "nvidia-smi"
    smi.write_text("#!/bin/sh\necho '0, 143771'\necho '1, 81559'\n")
    smi.chmod(0o755)
    path = f"{tmp_path}{os.pathsep}{os.environ['PATH']}"
    assert gpu_memory_mb(lambda cmd, **kw: subprocess.run(cmd, env={"PATH": path}, **kw)) == {"0": 143771, "1": 81559}
    assert gpu_memory_mb(lambda cmd, **kw: subprocess.run(cmd, env={"PATH": str(tmp_path / "none")}, **kw)) == {}


@pytest.mark.slow
def test_out_of_memory_fails_the_trial_as_oom_and_the_study_goes_on(make_cfg):
    # a 784 x 1e11 float32 kernel (about 300 TB) exceeds any address space: TensorFlow's own OOM error, ~10 s
    huge = 10**11
    cfg = make_cfg("+experiment=digits_mlp", "search.n_trials=1", "sampler=random",
                   "~search.space.width", f"+search.space.width={{type:categorical,choices:[16,{huge}]}}",
                   f"search.enqueue=[{{width:{huge}}},{{width:16}}]")
    run_study(cfg)
    trials = join_study(cfg).trials
    assert [t.state.name for t in trials] == ["FAIL", "COMPLETE"]
    assert trials[0].user_attrs["fail_reason"].startswith("oom: ") and "OOM when allocating" in \
        trials[0].user_attrs["fail_reason"]
