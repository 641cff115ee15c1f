"""Where trials run: CPU or one GPU per worker, memory growth, mixed precision, determinism.

Two steps, because ``CUDA_VISIBLE_DEVICES`` only counts before TensorFlow loads:

1. ``configure(cfg.device, worker_index, n_workers)`` at process start, before
   anything imports TensorFlow: picks this worker's GPU (worker i gets GPU
   i mod n) and sets the environment. Needs no TensorFlow.
2. ``activate(cfg.device)`` once TensorFlow may load (``make_objective`` calls it):
   checks that TensorFlow sees the GPU asked for, sets the mixed-precision policy
   and op determinism.

Example::

    placement = configure(cfg.device, worker_index=1, n_workers=2)  # before `import tensorflow`
    placement.env  # {"CUDA_VISIBLE_DEVICES": "1", "TF_FORCE_GPU_ALLOW_GROWTH": "true"} on a 2-GPU box
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from tuner.config import DEVICE_KINDS
from tuner.errors import ConfigError

log = logging.getLogger(__name__)
NVIDIA_PROC = Path("/proc/driver/nvidia/gpus")
ALL_GPUS_ENV = "TUNER_GPUS"  # the GPUs the first process saw, so child workers re-assign from all of them
MIXED = "mixed_float16"


@dataclass(frozen=True)
class Placement:
    """What one process uses: ``gpu`` is its id in the original ``CUDA_VISIBLE_DEVICES`` (None = CPU)."""

    gpu: str | None
    env: dict[str, str] = field(default_factory=dict)
    mixed_precision: bool = False


def visible_gpus(environ: Mapping[str, str], proc_dir: Path = NVIDIA_PROC) -> list[str]:
    """GPU ids this machine offers, without loading TensorFlow: ``CUDA_VISIBLE_DEVICES`` if set, else the driver's list."""
    for var in (ALL_GPUS_ENV, "CUDA_VISIBLE_DEVICES"):
        if var in environ:
            ids = [g.strip() for g in environ[var].split(",")]
            return [g for g in ids if g and g != "-1"]
    if not proc_dir.is_dir():
        return []
    return [str(i) for i in range(sum(1 for _ in proc_dir.iterdir()))]


def assign(gpus: list[str], worker_index: int, n_workers: int) -> str | None:
    """Worker ``i`` of ``n_workers`` gets ``gpus[i mod len(gpus)]``; None when there is no GPU.

    >>> [assign(["0", "1"], i, 3) for i in range(3)]
    ['0', '1', '0']
    """
    if not 0 <= worker_index < n_workers:
        raise ValueError(f"worker_index={worker_index} is outside 0..{n_workers - 1}")
    return gpus[worker_index % len(gpus)] if gpus else None


def plan(kind: str, mixed_precision: bool, gpus: list[str], worker_index: int = 0, n_workers: int = 1) -> Placement:
    """The placement of one worker; pure, so it is tested without a GPU."""
    if kind not in DEVICE_KINDS or (kind == "cpu" and mixed_precision):
        raise ConfigError(f"device.kind={kind} with device.mixed_precision={mixed_precision}: check the config "
                          "with tuner.config.validate first")
    if kind == "cpu":
        return Placement(None, {"CUDA_VISIBLE_DEVICES": ""})
    gpu = assign(gpus, worker_index, n_workers)
    if gpu is None:
        if kind == "gpu":
            raise ConfigError("device=gpu but no GPU is visible (no NVIDIA driver, or CUDA_VISIBLE_DEVICES hides "
                              "them all); use device=auto to fall back to the CPU, or device=cpu")
        if mixed_precision:
            log.warning("device.mixed_precision=true ignored: no GPU here, training in float32 on the CPU")
        return Placement(None, {})
    return Placement(gpu, {"CUDA_VISIBLE_DEVICES": gpu, "TF_FORCE_GPU_ALLOW_GROWTH": "true"}, mixed_precision)


def configure(device: Any, worker_index: int = 0, n_workers: int = 1) -> Placement:
    """Pick this process's device from ``device`` (the ``device`` config node) and set the environment.

    Call before TensorFlow is imported; once it is, a changed ``CUDA_VISIBLE_DEVICES`` has no effect.
    """
    gpus = visible_gpus(os.environ)
    placement = plan(device.kind, device.mixed_precision, gpus, worker_index, n_workers)
    if "tensorflow" in sys.modules and placement.env:
        log.warning("TensorFlow is already loaded: device placement %s comes too late to apply", placement.env)
    os.environ[ALL_GPUS_ENV] = ",".join(gpus)
    os.environ.update(placement.env)
    return placement


def activate(device: Any) -> None:
    """After TensorFlow may load: check the GPU, set the dtype policy and op determinism (process-wide)."""
    import keras
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    for gpu in gpus:  # as TF_FORCE_GPU_ALLOW_GROWTH, for processes that did not go through configure()
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError:  # TensorFlow has already set its GPUs up: growth is fixed from then on
            log.debug("memory growth of %s is already fixed", gpu.name)
    on_gpu = bool(gpus)
    if device.kind == "gpu" and not on_gpu:
        raise ConfigError("device=gpu but TensorFlow sees no GPU: install its CUDA build "
                          "(pip install 'tensorflow[and-cuda]'), or use device=auto or device=cpu")
    keras.config.set_dtype_policy(MIXED if device.mixed_precision and on_gpu else "float32")
    if device.deterministic:
        tf.config.experimental.enable_op_determinism()


def failure_reason(err: BaseException) -> str:
    """A failed trial's reason: ``oom: ...`` for TensorFlow's out-of-memory error, else ``<Type>: <message>``."""
    import tensorflow as tf

    first = (str(err).splitlines() or [""])[0].strip()[:500]
    if isinstance(err, tf.errors.ResourceExhaustedError):
        return f"oom: {first}"
    return f"{type(err).__name__}: {first}"
