"""Where trials run: CPU or a GPU per worker (several workers may share one), memory caps, mixed precision,
determinism, on whichever Keras backend this process runs (tensorflow, jax or torch).

Two steps, because ``CUDA_VISIBLE_DEVICES`` and the backends' memory settings only count before the
backend loads:

1. ``configure(cfg.device, worker_index, n_workers)`` at process start, before anything imports
   Keras: picks this worker's GPU (worker i gets GPU i mod n) and sets the environment, its memory
   share among the workers on that GPU included. Needs no backend.
2. ``activate(cfg.device)`` once Keras may load (``make_objective`` calls it): checks that the
   backend sees the GPU asked for, applies the memory cap, sets the mixed-precision policy and
   determinism.

Determinism: TensorFlow's op determinism; PyTorch's deterministic algorithms (warn-only: an op without a
deterministic kernel warns instead of failing) and cuDNN without benchmarking; JAX is deterministic on
the CPU and on a GPU gets XLA's deterministic ops. Memory: TensorFlow grows its memory (or takes a
logical device of its share), JAX does not preallocate (and takes its share as its client memory
fraction), PyTorch allocates as it goes (and takes its share as its per-process memory fraction).

Example::

    placement = configure(cfg.device, worker_index=1, n_workers=2)  # before `import keras`
    placement.env  # {"CUDA_VISIBLE_DEVICES": "1", "TF_FORCE_GPU_ALLOW_GROWTH": "true", ...} on a 2-GPU box
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from tuner.config import DEVICE_KINDS
from tuner.errors import ConfigError

log = logging.getLogger(__name__)
NVIDIA_PROC = Path("/proc/driver/nvidia/gpus")
ALL_GPUS_ENV = "TUNER_GPUS"  # the GPUs the first process saw, so child workers re-assign from all of them
FRACTION_ENV = "TUNER_GPU_MEMORY_FRACTION"  # this worker's share of its GPU's memory, when it shares the GPU
GPU_MB_ENV = "TUNER_GPU_MEMORY_MB"  # that GPU's memory, for TensorFlow's logical device
MIXED = "mixed_float16"
# Workers sharing a GPU split this much of its memory (the rest: each process's CUDA context, fragmentation) ...
SHARED_FRACTION = 0.9
# ... and each needs at least this much: a small CNN trial on the Fashion-size task with its CUDA context.
# An estimate until bench/gpu_check.py measures it on a GPU (it records each backend's peak per worker).
MIN_WORKER_GPU_MB = 1024


@dataclass(frozen=True)
class Placement:
    """What one process uses: ``gpu`` is its id in the original ``CUDA_VISIBLE_DEVICES`` (None = CPU);
    ``memory_fraction`` its share of that GPU's memory when other workers share the GPU (None = all of it)."""

    gpu: str | None
    env: dict[str, str] = field(default_factory=dict)
    mixed_precision: bool = False
    memory_fraction: float | None = None


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


def sharing(gpus: list[str], worker_index: int, n_workers: int) -> int:
    """How many of the ``n_workers`` workers run on the GPU of worker ``worker_index`` (itself included).

    >>> sharing(["0"], 0, 4), sharing(["0", "1"], 1, 3)
    (4, 1)
    """
    return len(range(worker_index % len(gpus), n_workers, len(gpus))) if gpus else 0


def default_workers(kind: str, trials_per_gpu: int, gpus: list[str], n_trials: int) -> int:
    """``search.n_workers=null``: ``trials_per_gpu`` per visible GPU (at most one per trial), 1 on the CPU.

    >>> default_workers("auto", 4, ["0"], 20), default_workers("auto", 4, [], 20), default_workers("cpu", 2, ["0"], 20)
    (4, 1, 1)
    """
    if kind == "cpu" or not gpus:
        if trials_per_gpu > 1:
            log.warning("device.trials_per_gpu=%d ignored: %s, so trials run on the CPU, one worker unless "
                        "search.n_workers says otherwise", trials_per_gpu,
                        "device=cpu" if kind == "cpu" else "no GPU is visible")
        return 1
    return max(1, min(trials_per_gpu * len(gpus), n_trials))


def plan(kind: str, mixed_precision: bool, gpus: list[str], worker_index: int = 0, n_workers: int = 1,
         deterministic: bool = False, gpu_memory_mb: Mapping[str, int] | None = None) -> Placement:
    """The placement of one worker; pure, so it is tested without a GPU. ``gpu_memory_mb``: each GPU's memory
    (``nvidia-smi``), to refuse more workers on one GPU than its memory can share."""
    if kind not in DEVICE_KINDS or (kind == "cpu" and mixed_precision):
        raise ConfigError(f"device.kind={kind} with device.mixed_precision={mixed_precision}: check the config "
                          "with tuner.config.validate first")
    if kind == "cpu":
        return Placement(None, {"CUDA_VISIBLE_DEVICES": "", "JAX_PLATFORMS": "cpu"})
    gpu = assign(gpus, worker_index, n_workers)
    if gpu is None:
        if kind == "gpu":
            raise ConfigError("device=gpu but no GPU is visible (no NVIDIA driver, or CUDA_VISIBLE_DEVICES hides "
                              "them all); use device=auto to fall back to the CPU, or device=cpu")
        if mixed_precision:
            log.warning("device.mixed_precision=true ignored: no GPU here, training in float32 on the CPU")
        return Placement(None, {})
    env = {"CUDA_VISIBLE_DEVICES": gpu, "XLA_PYTHON_CLIENT_PREALLOCATE": "false"}
    if deterministic:
        env.update(XLA_FLAGS=_with_flag(os.environ.get("XLA_FLAGS", ""), "--xla_gpu_deterministic_ops=true"),
                   CUBLAS_WORKSPACE_CONFIG=":4096:8")
    share = sharing(gpus, worker_index, n_workers)
    if share == 1:
        env["TF_FORCE_GPU_ALLOW_GROWTH"] = "true"
        return Placement(gpu, env, mixed_precision)
    fraction = round(SHARED_FRACTION / share, 4)
    total = (gpu_memory_mb or {}).get(gpu)
    if total is not None:
        if fraction * total < MIN_WORKER_GPU_MB:
            most = max(1, int(SHARED_FRACTION * total // MIN_WORKER_GPU_MB))
            raise ConfigError(f"device.trials_per_gpu (or search.n_workers={n_workers}) puts {share} workers on GPU "
                              f"{gpu}: each would get {fraction * total:.0f} MiB of its {total} MiB, under the "
                              f"{MIN_WORKER_GPU_MB} MiB a trial needs; use at most {most} per GPU")
        env[GPU_MB_ENV] = str(total)
    env.update({FRACTION_ENV: str(fraction), "XLA_PYTHON_CLIENT_MEM_FRACTION": str(fraction)})
    return Placement(gpu, env, mixed_precision, fraction)


def _with_flag(flags: str, flag: str) -> str:
    return flags if flag in flags.split() else f"{flags} {flag}".strip()


def gpu_memory_mb(run: Any = subprocess.run) -> dict[str, int]:
    """Each GPU's memory in MiB by its index, from ``nvidia-smi``; empty when it is not there."""
    try:
        out = run(["nvidia-smi", "--query-gpu=index,memory.total", "--format=csv,noheader,nounits"],
                  capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return {}
    if out.returncode != 0:
        return {}
    memory = {}
    for line in out.stdout.splitlines():
        index, _, total = line.partition(",")
        if index.strip().isdigit() and total.strip().isdigit():
            memory[index.strip()] = int(total.strip())
    return memory


def configure(device: Any, worker_index: int = 0, n_workers: int = 1) -> Placement:
    """Pick this process's device from ``device`` (the ``device`` config node) and set the environment.

    Call before Keras is imported; once its backend has loaded, a changed ``CUDA_VISIBLE_DEVICES`` has no effect.
    """
    gpus = visible_gpus(os.environ)
    shared = bool(gpus) and device.kind != "cpu" and n_workers > len(gpus)
    placement = plan(device.kind, device.mixed_precision, gpus, worker_index, n_workers, device.deterministic,
                     gpu_memory_mb() if shared else None)
    loaded = [m for m in ("tensorflow", "jax", "torch") if m in sys.modules]
    if loaded and placement.env:
        log.warning("%s is already loaded: device placement %s comes too late to apply", loaded[0], placement.env)
    os.environ[ALL_GPUS_ENV] = ",".join(gpus)
    os.environ.update(placement.env)
    return placement


def activate(device: Any) -> None:
    """After Keras may load: check the GPU, cap its memory, set the dtype policy and determinism (process-wide)."""
    import keras

    backend = keras.backend.backend()
    fraction = float(os.environ[FRACTION_ENV]) if FRACTION_ENV in os.environ else None
    on_gpu = {"tensorflow": _tensorflow_gpu, "jax": _jax_gpu, "torch": _torch_gpu}[backend](fraction)
    if device.kind == "gpu" and not on_gpu:
        raise ConfigError(f"device=gpu but Keras' {backend} backend sees no GPU: install its CUDA build "
                          f"({CUDA_BUILDS[backend]}), or use device=auto or device=cpu")
    keras.config.set_dtype_policy(MIXED if device.mixed_precision and on_gpu else "float32")
    if device.deterministic:
        _deterministic(backend)


CUDA_BUILDS = {"tensorflow": "pip install 'tensorflow[and-cuda]'", "jax": "pip install 'jax[cuda13]'",
               "torch": "pip install torch from the CUDA index of pytorch.org"}


def _tensorflow_gpu(fraction: float | None) -> bool:
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    total = os.environ.get(GPU_MB_ENV)
    for gpu in gpus:
        try:
            if fraction is not None and total is not None:  # a logical device of this worker's share
                limit = int(fraction * int(total))
                tf.config.set_logical_device_configuration(gpu, [tf.config.LogicalDeviceConfiguration(limit)])
            else:  # as TF_FORCE_GPU_ALLOW_GROWTH, for processes that did not go through configure()
                tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError:  # TensorFlow has already set its GPUs up: fixed from then on
            log.debug("memory of %s is already set up", gpu.name)
    return bool(gpus)


def _jax_gpu(fraction: float | None) -> bool:
    import jax

    try:
        return bool(jax.devices("gpu"))
    except RuntimeError:  # no GPU platform: a CPU-only jaxlib, or JAX_PLATFORMS=cpu
        return False


def _torch_gpu(fraction: float | None) -> bool:
    import torch

    if not torch.cuda.is_available():
        return False
    if fraction is not None:
        torch.cuda.set_per_process_memory_fraction(fraction)
    return True


def _deterministic(backend: str) -> None:
    if backend == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
    elif backend == "torch":
        import torch

        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
    # jax: deterministic on the CPU; on a GPU, configure() set XLA_FLAGS=--xla_gpu_deterministic_ops=true


def failure_reason(err: BaseException) -> str:
    """A failed trial's reason: ``oom: ...`` for the backend's out-of-memory error, else ``<Type>: <message>``."""
    first = (str(err).splitlines() or [""])[0].strip()[:500]
    return f"oom: {first}" if out_of_memory(err) else f"{type(err).__name__}: {first}"


def out_of_memory(err: BaseException) -> bool:
    """Whether ``err`` is an out-of-memory error of TensorFlow, PyTorch or JAX (XLA), checked without importing
    a backend that is not loaded."""
    if "tensorflow" in sys.modules and isinstance(err, sys.modules["tensorflow"].errors.ResourceExhaustedError):
        return True
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(err, torch.OutOfMemoryError):
        return True
    # XLA (JAX) raises its runtime error with the status code first: "RESOURCE_EXHAUSTED: Out of memory ..."
    return type(err).__name__ in ("XlaRuntimeError", "JaxRuntimeError") and str(err).startswith("RESOURCE_EXHAUSTED")
