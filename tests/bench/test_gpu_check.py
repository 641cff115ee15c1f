"""bench/gpu_check.py's pieces that need no GPU and start no process: its refusal without a GPU, the
Fashion-sized IDX files it generates (read back by tuner's own reader), and its GPU sampler without nvidia-smi."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from bench.gpu_check import GpuSampler, fashion_like, main, parse

from tuner.data.idx import load_idx_folder


def test_it_refuses_without_a_gpu_unless_given_cpu(monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert main([]) == 2
    err = capsys.readouterr().err
    assert "no GPU is visible" in err and "--cpu" in err


def test_bad_arguments_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse(["--parts", "speed,warp"])
    assert "unknown ['warp']" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parse(["--budget", "0"])
    assert "must be a positive number" in capsys.readouterr().err


def test_the_generated_images_are_fashion_mnist_idx_files_of_every_class(tmp_path: Path) -> None:
    images = load_idx_folder(fashion_like(tmp_path / "f", n_train=600), "fashion")
    assert images.x.shape == (600, 28, 28, 1) and images.x.dtype == np.uint8
    assert images.test_x.shape == (100, 28, 28, 1)
    assert np.bincount(images.y).tolist() == [60] * 10
    # each class is its own pattern: class means differ far more than the noise between two images of one class
    means = np.stack([images.x[images.y == c].mean(axis=0) for c in range(10)])
    assert np.abs(means[0] - means[1]).mean() > 20
    with pytest.raises(ValueError, match="at least 100 images"):
        fashion_like(tmp_path / "g", n_train=50)


def test_the_sampler_says_why_it_has_no_figures_without_nvidia_smi(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with GpuSampler() as sampler:
        pass
    assert sampler.stats() == {"samples": 0, "error": "nvidia-smi is not on the PATH"}


def test_the_cpu_race_runs_the_gpus_race_alone_on_tensorflow_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    from bench.gpu_check import CPU_RACE_CAPS, GPU_CAPS

    args = parse(["--cpu-race"])
    assert args.parts == ["trials_per_gpu"] and args.k_backend == "tensorflow"
    assert parse(["--cpu-race", "--k-backend", "jax"]).k_backend == "jax"
    # the same race as the GPU's: model, images and epochs; only the workers and the time differ
    assert (CPU_RACE_CAPS.k_model, CPU_RACE_CAPS.k_max_samples, CPU_RACE_CAPS.k_epochs) == \
        (GPU_CAPS.k_model, GPU_CAPS.k_max_samples, GPU_CAPS.k_epochs)
    with pytest.raises(SystemExit):
        parse(["--cpu-race", "--cpu"])
    assert "choose one" in capsys.readouterr().err
