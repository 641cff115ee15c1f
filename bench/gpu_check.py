"""The GPU check of issue 21 in one call: tuner's studies and training speed on a GPU, on each Keras backend.

    python bench/gpu_check.py            # on a machine with an NVIDIA GPU (bash bench/gpu_check.sh installs
                                         # the carried wheels first; docs/gpu.md)
    python bench/gpu_check.py --cpu      # a smoke run of every part on the CPU, tiny caps (about 3 minutes)
    python bench/gpu_check.py --cpu-race # the trials_per_gpu race as the GPU runs it, on this CPU instead
                                         # (1 and 2 workers, 240 s each): what the GPU's trials per minute
                                         # are compared with (issue 21: k=8 on one H200 >= 25x this CPU)

Parts, each capped in time and failure-tolerant (a part that fails records its error and the rest go on):

- ``speed``: a Fashion-sized CNN's training images per second on each importable backend (tensorflow, jax,
  torch), in float32 and with ``device.mixed_precision=true``, through tuner's own ``build_model`` and
  ``train`` on generated 28x28 Fashion-sized images (the second epoch timed; the first compiles);
- ``trials_per_gpu``: trials per minute of the Fashion CNN task (one pinned model, generated images) with
  ``device.trials_per_gpu=k`` for k = 1, 2, 4, 8, each study capped by ``search.timeout``;
- ``digits``: a ``digits_cnn`` study on the GPU on JAX and on PyTorch: trials, seconds, best val_accuracy and
  each trial's training images per second (from its ``seconds`` and ``epochs_run`` user attributes);
- with each part, GPU memory and utilisation (``nvidia-smi``, sampled twice a second): peak and mean.

It refuses to run when no GPU is visible unless given ``--cpu``. Every figure goes to stdout, to
``$OUT/gpu_check.json`` when ``OUT`` is set (or ``--out``), and to bench/results/gpu_check-<date>-<time>.json.
Studies, MLflow stores and data go to a temporary folder, removed at the end (``--keep`` keeps it).
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, Self

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
if str(SRC) not in sys.path:
    sys.path.insert(0, str(SRC))

import numpy as np

BACKENDS = ("tensorflow", "jax", "torch")
STUDY_BACKENDS = ("jax", "torch")
PRECISIONS = ("float32", "mixed_float16")
IMAGES_PER_TRIAL = "epochs_run x training images / the trial's seconds attribute (its build and compile included)"
RESULT_MARK = "GPU_CHECK_RESULT "
COMMIT_ENV = "TUNER_COMMIT"  # the commit the tree was copied from, where it has no .git  # a child process's last line: this, then its JSON
VERSIONS_OF = ("keras", "tensorflow", "jax", "jaxlib", "torch", "optuna", "mlflow-skinny", "hydra-core", "numpy",
               "protobuf", "pydantic", "typing_extensions")
CORE_KEYS = {"backend": "backend=jax", "device.trials_per_gpu": "device.trials_per_gpu=2"}
NVIDIA_QUERY = ["nvidia-smi", "--query-gpu=memory.used,memory.total,utilization.gpu", "--format=csv,noheader,nounits"]
# A Fashion CNN from the middle of conf/search/space/cnn_blocks.yaml: fashion_cnn's first enqueued trial.
FASHION_CNN = {"arch": "cnn", "block": "double", "batch_norm": True, "batch_norm_momentum": 0.9, "depth": 3,
               "filters": 16, "filters_growth": 2, "kernel_size": 3, "pooling": "max", "padding": "same",
               "head": "flatten", "width": 128, "dropout": 0.3, "activation": "relu", "initializer": "he_normal",
               "optimizer": "adam", "learning_rate": 2e-3, "lr_schedule": "cosine", "batch_size": 128, "epochs": 2,
               "augment_shift": 0.05, "augment_flip": True}
# The same without its random shifts and flips, to see what they cost per backend. Keras marks its random shift
# layer not XLA-compilable, so on JAX an augmented CNN ran op by op (721 images/s on the H200, 73,000 without:
# mixed_precision-2026-11-26-h200.json) until tuner.models.inputs.jittable marked it compilable there.
PLAIN_CNN = {**FASHION_CNN, "augment_shift": 0.0, "augment_flip": False}
PINNED_SPACE = ["depth", "filters", "head", "width", "dropout", "optimizer", "learning_rate", "lr_schedule",
                "batch_size", "augment_shift", "augment_flip"]
TINY_CNN = {**PLAIN_CNN, "depth": 1, "filters": 8, "width": 32, "batch_size": 64}


@dataclasses.dataclass(frozen=True)
class Caps:
    """How much each part may do: the GPU run's defaults fit 8 minutes in all, --cpu's about 3."""

    budget_s: float  # the whole run; a part that would start past it is skipped, one that would run over is cut
    speed_images: int  # generated training images (the test split is a sixth of it)
    speed_max_samples: int | None  # of those, what the speed part fits on (data.max_samples)
    speed_epochs: int
    speed_timeout_s: float  # one fit (a model in one precision); a backend's process gets this per fit
    speed_models: dict  # name: the hyperparameters the speed part fits, each in float32 and mixed_float16
    mixed_on_all: bool  # the mixed-precision fits on every backend (else on the first one only: --cpu stays float32)
    k_values: tuple[int, ...]
    k_timeout_s: float  # search.timeout of each k's study
    k_max_samples: int
    k_epochs: int
    k_model: dict  # the hyperparameters every trial of the trials_per_gpu part is pinned to
    digits_timeout_s: float  # search.timeout of each backend's digits_cnn study
    digits_overrides: tuple[str, ...]
    study_grace_s: float  # a study's process may outlive its search.timeout by this much (start, last epoch, report)


# The k race pins the un-augmented CNN so that its trials are bound by the GPU, not by the host's random layers
GPU_CAPS = Caps(budget_s=465, speed_images=12_000, speed_max_samples=6_000, speed_epochs=2, speed_timeout_s=50,
                speed_models={"fashion_cnn": FASHION_CNN, "no_augmentation": PLAIN_CNN}, mixed_on_all=True,
                k_values=(1, 2, 4, 8), k_timeout_s=30, k_max_samples=12_000, k_epochs=3, k_model=PLAIN_CNN,
                digits_timeout_s=45, digits_overrides=(), study_grace_s=40)
# --cpu: the budget is only a safety net (a loaded machine must not skip parts); the caps keep it near 3 minutes.
# No augmentation: on JAX, on this CPU, its random layers cost 10x the epoch (and 3x the compile) when they ran
# op by op, before tuner.models.inputs.jittable.
CPU_CAPS = Caps(budget_s=600, speed_images=1_200, speed_max_samples=None, speed_epochs=2, speed_timeout_s=45,
                speed_models={"tiny_cnn": TINY_CNN}, mixed_on_all=False,
                k_values=(1, 2), k_timeout_s=10, k_max_samples=600, k_epochs=1, k_model=TINY_CNN,
                digits_timeout_s=10, digits_overrides=("data.max_samples=800", "search.space.epochs=1",
                                                       "search.space.depth=1", "search.space.filters=16",
                                                       "search.space.width=32"),
                study_grace_s=60)

# --cpu-race: the GPU's race (same pinned model, images, epochs) on this CPU, with 1 and 2 worker processes
# (search.n_workers) and time enough for several trials each: a 3-epoch trial takes about a minute on 2 cores.
CPU_RACE_CAPS = dataclasses.replace(GPU_CAPS, budget_s=720, speed_models={}, k_values=(1, 2), k_timeout_s=240,
                                    study_grace_s=60)

# ---------------------------------------------------------------------------------------------- the GPU's load


def gpu_visible() -> tuple[bool, str]:
    """Whether ``nvidia-smi`` lists a GPU (and CUDA_VISIBLE_DEVICES hides none of them all), and what it said."""
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1"):
        return False, f"CUDA_VISIBLE_DEVICES={os.environ['CUDA_VISIBLE_DEVICES']!r} hides every GPU"
    if not shutil.which("nvidia-smi"):
        return False, "nvidia-smi is not on the PATH (no NVIDIA driver here)"
    done = subprocess.run(["nvidia-smi", "-L"], check=False, capture_output=True, text=True, timeout=60)
    listed = [line for line in done.stdout.splitlines() if line.startswith("GPU ")]
    if done.returncode != 0 or not listed:
        return False, f"nvidia-smi -L lists no GPU (exit {done.returncode}: {(done.stderr or done.stdout).strip()[:300]})"
    return True, "; ".join(listed)


class GpuSampler:
    """Samples ``nvidia-smi``'s memory and utilisation of every GPU in a background thread; ``stats()`` sums them."""

    def __init__(self, every_s: float = 0.5) -> None:
        self.every_s = every_s
        self.samples: list[tuple[float, float, float]] = []  # used MiB, total MiB, utilisation % (summed over GPUs)
        self.error: str | None = None if shutil.which("nvidia-smi") else "nvidia-smi is not on the PATH"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Self:
        if self.error is None:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                done = subprocess.run(NVIDIA_QUERY, check=False, capture_output=True, text=True, timeout=10)
                rows = [[float(v) for v in line.split(",")] for line in done.stdout.splitlines() if line.strip()]
                if done.returncode != 0 or not rows:
                    raise RuntimeError(f"exit {done.returncode}: {(done.stderr or done.stdout).strip()[:200]}")
                self.samples.append(tuple(sum(r[i] for r in rows) for i in range(3)))  # type: ignore[arg-type]
            except (OSError, ValueError, IndexError, RuntimeError, subprocess.TimeoutExpired) as err:
                self.error = f"nvidia-smi failed: {err}"
                return
            self._stop.wait(self.every_s)

    def stats(self) -> dict[str, Any]:
        if not self.samples:
            return {"samples": 0, "error": self.error or "no sample taken (the part ended first)"}
        used, total, util = zip(*self.samples)
        return {"samples": len(self.samples), "memory_total_mib": round(max(total)),
                "memory_used_min_mib": round(min(used)), "memory_used_peak_mib": round(max(used)),
                "memory_used_mean_mib": round(statistics.fmean(used)),
                "utilization_peak_pct": round(max(util)), "utilization_mean_pct": round(statistics.fmean(util), 1),
                **({"error": self.error} if self.error else {})}


# ---------------------------------------------------------------------------------------------- data and config


def write_idx(path: Path, array: np.ndarray) -> None:
    """``array`` (uint8) as an IDX file: magic 0x0000080<ndim>, the dimensions big-endian, then the bytes."""
    header = bytes([0, 0, 0x08, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    path.write_bytes(header + np.ascontiguousarray(array, dtype=np.uint8).tobytes())


def fashion_like(folder: Path, n_train: int, seed: int = 0) -> Path:
    """Fashion-MNIST's four IDX files in ``folder``, of generated 28x28 images: each class a fixed random pattern
    under fresh noise, so a CNN learns them (val_accuracy tells a broken fit from a working one)."""
    if n_train < 100:
        raise ValueError(f"n_train={n_train}: at least 100 images, 10 per class, so every split holds each class")
    rng = np.random.default_rng(seed)
    patterns = rng.integers(0, 160, size=(10, 28, 28))
    folder.mkdir(parents=True, exist_ok=True)
    for part, n in (("train", n_train), ("t10k", max(n_train // 6, 20))):
        labels = np.arange(n) % 10
        rng.shuffle(labels)
        images = (patterns[labels] + rng.integers(0, 96, size=(n, 28, 28))).astype(np.uint8)
        write_idx(folder / f"{part}-images-idx3-ubyte", images)
        write_idx(folder / f"{part}-labels-idx1-ubyte", labels.astype(np.uint8))
    return folder


def versions() -> dict[str, str | None]:
    """The versions of what the check runs on, from the installed metadata (nothing is imported)."""
    import importlib.metadata

    found: dict[str, str | None] = {}
    for name in VERSIONS_OF:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = None
    return found


def _head() -> str | None:
    done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, check=False, capture_output=True, text=True) \
        if shutil.which("git") else None
    return done.stdout.strip() if done is not None and done.returncode == 0 else None


def accepted_keys() -> dict[str, bool | str]:
    """Which of issue 21's new config keys this tuner accepts: True, or the composer's error text."""
    from tuner.config import compose

    found: dict[str, bool | str] = {}
    for key, override in CORE_KEYS.items():
        try:
            compose([override])
            found[key] = True
        except Exception as err:  # noqa: BLE001 - Hydra's override errors have several types; the text is kept
            found[key] = f"{type(err).__name__}: {str(err).splitlines()[0][:200]}"
    return found


# ---------------------------------------------------------------------------------------------- running parts


class Budget:
    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        return self.end - time.monotonic()


def child_env(backend: str, workdir: Path) -> dict[str, str]:
    env = dict(os.environ, KERAS_BACKEND=backend, TUNER_CACHE_DIR=str(workdir / "cache"), PYTHONUNBUFFERED="1",
               TF_CPP_MIN_LOG_LEVEL="3", MPLBACKEND="Agg")
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), *filter(None, [os.environ.get("PYTHONPATH")])])
    return env


def run_process(command: list[str], env: dict[str, str], cwd: Path, timeout: float, log: Path) -> tuple[int, str]:
    """Run ``command``, its output to ``log``; (exit code, the output's tail). A time-out kills it: exit code -9."""
    with log.open("w") as out:
        proc = subprocess.Popen(command, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            code = proc.wait(timeout=max(timeout, 1))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)  # the study's workers too: they share its process group
            proc.wait()
            code = -9
    return code, log.read_text(errors="replace")[-3000:]


def error_of(code: int, tail: str, timeout: float) -> str:
    if code == -9:
        return f"killed after {timeout:.0f} s (its cap); last output: {tail[-1500:]}"
    lines = [line for line in tail.splitlines() if line.strip()]
    errors = [line for line in lines if "Error" in line or "error" in line]
    return f"exit {code}: {(errors[-1] if errors else lines[-1] if lines else 'no output')[:500]}; last output: " \
           f"{tail[-1500:]}"


def timed_part(name: str, budget: Budget, needs_s: float, fn: Callable[[float], dict[str, Any]]) -> dict[str, Any]:
    """``fn(cap)`` with a GPU sampler around it; its error text instead when it raises or the budget is spent."""
    cap = min(needs_s, budget.left())
    print(f"\n== {name}: up to {cap:.0f} s ({budget.left():.0f} s left of the whole run)", flush=True)
    if cap < min(needs_s, 20):
        return {"error": f"skipped: {budget.left():.0f} s were left of the run's budget, the part needs {needs_s:.0f}"}
    start = time.monotonic()
    with GpuSampler() as sampler:
        try:
            figures = fn(cap)
        except Exception as err:  # noqa: BLE001 - one part's failure is recorded, the others still run
            figures = {"error": f"{type(err).__name__}: {err}", "traceback": traceback.format_exc()[-2000:]}
    figures["seconds"] = round(time.monotonic() - start, 1)
    figures["gpu"] = sampler.stats()
    print(json.dumps({name: figures}, indent=1, default=str)[:4000], flush=True)
    return figures


def backend_override(backend: str, keys: dict[str, bool | str]) -> list[str]:
    """``backend=<b>`` where tuner accepts the key; else nothing (``KERAS_BACKEND`` still picks the backend)."""
    return [f"backend={backend}"] if keys.get("backend") is True else []


def study_overrides(name: str, workdir: Path) -> list[str]:
    return [f"name={name}", f"experiments_dir={workdir / 'experiments'}",
            f"tracking.uri=sqlite:///{workdir / 'mlflow.db'}", "search.n_trials=10000"]


def study_figures(workdir: Path, name: str, n_train: int) -> dict[str, Any]:
    """What the study ``name`` under ``workdir`` recorded: trials by state, span, best value, images/s per trial."""
    import optuna

    from tuner.study import open_study
    from tuner.study.records import EPOCHS_RUN, FAIL_REASON, SECONDS, STOPPED_AT_DEADLINE
    from tuner.study.storage import StudyRef

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = open_study(StudyRef(name, str(workdir / "experiments"), None))
    trials = study.get_trials(deepcopy=False)
    states = {s.name.lower(): sum(t.state == s for t in trials) for s in optuna.trial.TrialState}
    cut = [t for t in trials if STOPPED_AT_DEADLINE in t.user_attrs]
    # finished: ended complete or pruned by the pruner, not cut by search.timeout
    finished = [t for t in trials if t.state.is_finished() and t.state != optuna.trial.TrialState.FAIL and t not in cut]
    ended = [t for t in trials if t.datetime_start and t.datetime_complete]
    span = (max(t.datetime_complete for t in ended) - min(t.datetime_start for t in ended)).total_seconds() \
        if ended else None
    rates = [t.user_attrs[EPOCHS_RUN] * n_train / t.user_attrs[SECONDS] for t in trials
             if t.user_attrs.get(SECONDS) and t.user_attrs.get(EPOCHS_RUN)]
    done = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE and t.values]
    epochs = sum(int(t.user_attrs.get(EPOCHS_RUN) or 0) for t in trials)
    fails = sorted({str(t.user_attrs.get(FAIL_REASON))[:300] for t in trials if t.state == optuna.trial.TrialState.FAIL})
    return {
        "trials": len(trials), "states": {k: v for k, v in states.items() if v}, "finished": len(finished),
        "cut_at_deadline": len(cut), "trials_span_s": None if span is None else round(span, 1),
        "trials_per_minute": round(60 * len(finished) / span, 2) if span else None,
        "epochs_per_minute": round(60 * epochs / span, 1) if span else None,
        "best_val_accuracy": round(max(t.values[0] for t in done), 4) if done else None,
        "training_images": n_train,
        "images_per_s_per_trial": {"mean": round(statistics.fmean(rates)), "min": round(min(rates)),
                                   "max": round(max(rates)), "counts": IMAGES_PER_TRIAL} if rates else None,
        "fail_reasons": fails,
    }


def n_train_of(overrides: list[str]) -> int:
    """Training images of the task ``overrides`` compose (data loaded once, as a trial would)."""
    from tuner.config import compose
    from tuner.data import load_dataset

    cfg = compose(overrides)
    return len(load_dataset(cfg.data, cfg.seed).x_train)


def run_study(label: str, overrides: list[str], backend: str, workdir: Path, timeout: float, hard_cap: float,
              n_train_overrides: list[str]) -> dict[str, Any]:
    name = f"gpu_check_{label}"
    command = [sys.executable, "-m", "tuner", *overrides, *study_overrides(name, workdir), f"search.timeout={timeout:.0f}"]
    print("+", " ".join(command[1:]), flush=True)
    env = child_env(backend, workdir)
    code, tail = run_process(command, env, workdir, hard_cap, workdir / f"{name}.log")
    figures: dict[str, Any] = {"backend": backend, "search_timeout_s": round(timeout), "exit_code": code}
    try:
        figures.update(study_figures(workdir, name, n_train_of(n_train_overrides)))
        # over the whole search.timeout, the workers' start included (trials_per_minute: over the trials' span)
        figures["trials_per_minute_of_timeout"] = round(60 * figures["finished"] / timeout, 2)
    except Exception as err:  # noqa: BLE001 - no study at all: the process's own error says why
        figures["study_error"] = f"{type(err).__name__}: {str(err)[:300]}"
    if code != 0 or not figures.get("finished"):
        figures["error"] = error_of(code, tail, hard_cap) if code != 0 else \
            f"no trial finished in {timeout:.0f} s; last output: {tail[-1500:]}"
    return figures


# ---------------------------------------------------------------------------------------------- the parts


def part_speed(backends: list[str], keys: dict, caps: Caps, workdir: Path, data: Path, on_gpu: bool,
               budget: Budget) -> dict[str, Any]:
    """One process per backend fits each of caps.speed_models in float32, then in mixed_float16 (the first
    epoch of each fit compiles); runs are keyed ``<backend>/<model>/<precision>``."""
    runs: dict[str, Any] = {}
    for i, backend in enumerate(backends):
        precisions = list(PRECISIONS if caps.mixed_on_all or i == 0 else PRECISIONS[:1])
        fits = [f"{model}/{precision}" for model in caps.speed_models for precision in precisions]
        cap = min(caps.speed_timeout_s * len(fits) + 20, budget.left())
        if cap < 15:
            runs.update({f"{backend}/{fit}": {"error": f"skipped: {budget.left():.0f} s left of the run's budget"}
                         for fit in fits})
            continue
        command = [sys.executable, str(Path(__file__).resolve()), "--child-speed", backend, "--data", str(data),
                   "--epochs", str(caps.speed_epochs), "--models", json.dumps(caps.speed_models),
                   *(["--max-samples", str(caps.speed_max_samples)] if caps.speed_max_samples else []), "--precisions",
                   ",".join(precisions), *([] if on_gpu else ["--cpu"]),
                   *(["--backend-key"] if keys.get("backend") is True else [])]
        with GpuSampler() as sampler:  # one process: its peak is one worker's
            code, tail = run_process(command, child_env(backend, workdir), workdir, cap,
                                     workdir / f"speed-{backend}.log")
        found = {}
        for line in tail.splitlines():
            if line.startswith(RESULT_MARK):
                result = json.loads(line[len(RESULT_MARK):])
                found[result.pop("fit")] = result
        for fit in fits:
            runs[f"{backend}/{fit}"] = {**(found.get(fit) or {"error": error_of(code, tail, cap)}),
                                        "gpu_of_the_process": sampler.stats()}
            print(f"{backend}/{fit}", json.dumps(runs[f"{backend}/{fit}"], default=str)[:600], flush=True)
    helps = {}
    for backend in backends:
        for model in caps.speed_models:
            f32, mixed = runs.get(f"{backend}/{model}/float32", {}), runs.get(f"{backend}/{model}/mixed_float16", {})
            if "images_per_s" in f32 and "images_per_s" in mixed:
                if mixed.get("dtype_policy") != "mixed_float16":
                    helps[f"{backend}/{model}"] = {"helps": None,
                                                   "why": f"the policy stayed {mixed.get('dtype_policy')} (no GPU)"}
                else:
                    ratio = mixed["images_per_s"] / f32["images_per_s"]
                    helps[f"{backend}/{model}"] = {"helps": ratio > 1.05, "speedup": round(ratio, 2)}
    out: dict[str, Any] = {"models": caps.speed_models, "runs": runs, "mixed_precision": helps}
    if not any("images_per_s" in r for r in runs.values()):
        out["error"] = "no backend trained: " + "; ".join(f"{k}: {str(r.get('error'))[:300]}" for k, r in runs.items())
    return out


def part_trials_per_gpu(keys: dict, caps: Caps, workdir: Path, data: Path, backend: str, on_gpu: bool,
                        budget: Budget) -> dict[str, Any]:
    if on_gpu and keys.get("device.trials_per_gpu") is not True:
        return {"error": "this tuner does not accept device.trials_per_gpu (issue 21, part 2, not landed yet): "
                         f"{keys.get('device.trials_per_gpu')}"}
    model = caps.k_model
    task = ["+experiment=fashion_cnn", "search.enqueue=[]", "pruner=none", f"data.path={data}",
            f"data.cache_dir={workdir / 'cache'}", f"data.max_samples={caps.k_max_samples}",
            f"search.space.epochs={caps.k_epochs}", *backend_override(backend, keys),
            *[f"search.space.{p}={str(model[p]).lower() if isinstance(model[p], bool) else model[p]}"
              for p in PINNED_SPACE]]
    n_train = n_train_of(task)
    per_k: dict[str, Any] = {}
    for k in caps.k_values:
        timeout = min(caps.k_timeout_s, budget.left() - caps.study_grace_s)
        if timeout < 5:
            per_k[str(k)] = {"error": f"skipped: {budget.left():.0f} s left of the run's budget"}
            continue
        # on a GPU the number of workers follows from trials_per_gpu alone (search.n_workers null);
        # on a CPU trials_per_gpu is ignored, so the workers are asked for outright
        workers = ["device=gpu"] if on_gpu else ["device=cpu", f"search.n_workers={k}"]
        tpg = [f"device.trials_per_gpu={k}"] if keys.get("device.trials_per_gpu") is True else []
        with GpuSampler() as sampler:
            per_k[str(k)] = run_study(f"k{k}", [*task, *workers, *tpg], backend, workdir, timeout,
                                      timeout + caps.study_grace_s + 5 * k, [*task])
        per_k[str(k)]["gpu"] = gpu = sampler.stats()
        if gpu.get("samples"):  # what one of the k workers took at most, over the GPU's use before they started
            per_k[str(k)]["gpu_memory_per_worker_peak_mib"] = round((gpu["memory_used_peak_mib"]
                                                                     - gpu["memory_used_min_mib"]) / k)
        print(f"k={k}:", json.dumps(per_k[str(k)], default=str)[:800], flush=True)
    rates = {k: v.get("trials_per_minute") for k, v in per_k.items()}
    out: dict[str, Any] = {"backend": backend, "model": {p: model[p] for p in PINNED_SPACE},
                           "epochs": caps.k_epochs, "training_images": n_train, "by_k": per_k,
                           "trials_per_minute": rates}
    first, last = str(caps.k_values[0]), str(caps.k_values[-1])
    if rates.get(first) and rates.get(last):
        out[f"ratio_k{last}_to_k{first}"] = round(rates[last] / rates[first], 2)
    if not any(rates.values()):
        out["error"] = "no k finished a trial: " + "; ".join(f"k={k}: {str(v.get('error'))[:300]}"
                                                             for k, v in per_k.items())
    return out


def part_digits(backend: str, keys: dict, caps: Caps, workdir: Path, on_gpu: bool, cap: float) -> dict[str, Any]:
    timeout = min(caps.digits_timeout_s, cap - caps.study_grace_s)
    if timeout < 5:
        return {"error": f"skipped: {cap:.0f} s left for the part"}
    overrides = ["+experiment=digits_cnn", f"device={'gpu' if on_gpu else 'cpu'}", *backend_override(backend, keys),
                 f"data.cache_dir={workdir / 'cache'}", *caps.digits_overrides]
    return run_study(f"digits_{backend}", overrides, backend, workdir, timeout, timeout + caps.study_grace_s, overrides)


# ---------------------------------------------------------------------------------------------- the speed child


def backend_device(backend: str) -> str:
    """Where the backend puts its arrays, in its own words."""
    if backend == "jax":
        import jax

        return ", ".join(f"{d.platform}:{d.device_kind}" for d in jax.devices())
    if backend == "torch":
        import torch

        return f"cuda:{torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else "cpu"
    import tensorflow as tf

    return ", ".join(d.name for d in tf.config.list_logical_devices()) or "none"


def child_speed(backend: str, data: Path, models: dict, epochs: int, precisions: list[str], on_gpu: bool,
                backend_key: bool, max_samples: int | None = None) -> None:
    """One backend (this process's ``KERAS_BACKEND``): fit each of ``models`` with tuner's ``train`` in each
    precision; a RESULT_MARK line for each fit, its error text in it when that fit failed."""
    if os.environ.get("KERAS_BACKEND") != backend:
        raise SystemExit(f"KERAS_BACKEND={os.environ.get('KERAS_BACKEND')!r} but --child-speed {backend}")
    from tuner.config import compose

    def cfg_for(precision: str) -> Any:
        return compose(["+experiment=fashion_cnn", f"data.path={data}", "data.val_fraction=0.05",
                        *([f"data.max_samples={max_samples}"] if max_samples else []),
                        f"device={'gpu' if on_gpu else 'auto'}",
                        f"device.mixed_precision={str(precision == 'mixed_float16').lower()}",
                        *([f"backend={backend}"] if backend_key else [])])

    from tuner.training.device import configure

    configure(cfg_for(precisions[0]).device)
    for name, hp in models.items():
        for precision in precisions:
            try:
                figures = _fit_once(backend, cfg_for(precision), {**hp, "epochs": epochs})
            except Exception as err:  # noqa: BLE001 - reported to the parent, which records it
                figures = {"error": f"{type(err).__name__}: {str(err)[:500]}",
                           "traceback": traceback.format_exc()[-1500:]}
            print(RESULT_MARK + json.dumps({"fit": f"{name}/{precision}", **figures}), flush=True)


def _fit_once(backend: str, cfg: Any, hp: dict) -> dict[str, Any]:
    import keras

    from tuner.data import load_dataset
    from tuner.models.builder import build_model, new_session
    from tuner.training.device import activate
    from tuner.training.fit import train

    activate(cfg.device)
    dataset = load_dataset(cfg.data, cfg.seed)
    new_session(0)
    model = build_model(hp, dataset.input_shape, dataset.n_classes, dataset.pixel_mean)
    ends: list[float] = []
    start = time.perf_counter()
    result = train(model, hp, dataset, lambda epoch, logs: ends.append(time.perf_counter()))
    epoch_s = [b - a for a, b in zip([start, *ends], ends)]
    timed = epoch_s[1:] or epoch_s  # the first epoch compiles
    n = len(dataset.x_train)
    return {"backend": keras.backend.backend(), "keras": keras.__version__, "device": backend_device(backend),
            "dtype_policy": keras.config.dtype_policy().name, "training_images": n,
            "images_per_s": round(n / statistics.fmean(timed)), "epoch_s": [round(s, 2) for s in epoch_s],
            "first_epoch_s": round(epoch_s[0], 2), "val_accuracy": round(result.final("val_accuracy"), 4)}


# ---------------------------------------------------------------------------------------------- main


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu", action="store_true", help="smoke mode: every part on the CPU, tiny caps")
    parser.add_argument("--cpu-race", action="store_true",
                        help="the trials_per_gpu race with the GPU's caps on this CPU (1 and 2 workers), as the "
                             "GPU's reference; default backend tensorflow")
    parser.add_argument("--out", type=Path, default=None, help="folder for gpu_check.json (default: $OUT, if set)")
    parser.add_argument("--budget", type=float, default=None, help="seconds for the whole run (default 465; --cpu 600, a safety net)")
    parser.add_argument("--parts", default="speed,trials_per_gpu,digits",
                        help="comma-separated, of speed, trials_per_gpu, digits")
    parser.add_argument("--k-backend", default=None, choices=BACKENDS,
                        help="backend of the trials_per_gpu part (default jax; --cpu: torch, which compiles nothing)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (studies, logs, data)")
    parser.add_argument("--no-save", action="store_true", help="write no file under bench/results/")
    parser.add_argument("--child-speed", choices=BACKENDS, help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--epochs", type=int, default=2, help=argparse.SUPPRESS)
    parser.add_argument("--precisions", default="float32", help=argparse.SUPPRESS)
    parser.add_argument("--max-samples", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--models", type=json.loads, default={"fashion_cnn": FASHION_CNN}, help=argparse.SUPPRESS)
    parser.add_argument("--backend-key", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = sorted(set(parts) - {"speed", "trials_per_gpu", "digits"})
    if unknown or not parts:
        parser.error(f"--parts: unknown {unknown}; choose from speed, trials_per_gpu, digits" if unknown
                     else "--parts names no part")
    if set(args.precisions.split(",")) - set(PRECISIONS):
        parser.error(f"--precisions {args.precisions}: choose from {', '.join(PRECISIONS)}")
    if args.budget is not None and args.budget <= 0:
        parser.error(f"--budget {args.budget}: must be a positive number of seconds")
    if args.cpu_race:
        if args.cpu:
            parser.error("--cpu-race and --cpu: choose one")
        parts = ["trials_per_gpu"]
        args.k_backend = args.k_backend or "tensorflow"
    args.parts = parts
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    if args.child_speed:
        child_speed(args.child_speed, args.data, args.models, args.epochs, args.precisions.split(","), not args.cpu,
                    args.backend_key, args.max_samples)
        return 0
    visible, seen = gpu_visible()
    if not visible and not (args.cpu or args.cpu_race):
        print(f"error: no GPU is visible ({seen}).\nThis check measures tuner on an NVIDIA GPU; on a machine "
              "without one run `python bench/gpu_check.py --cpu` for the smoke run of every part.", file=sys.stderr)
        return 2
    on_gpu = not (args.cpu or args.cpu_race)
    caps = CPU_CAPS if args.cpu else CPU_RACE_CAPS if args.cpu_race else GPU_CAPS
    budget = Budget(args.budget or caps.budget_s)
    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="gpu_check-"))
    importable = {b: importlib.util.find_spec(b) is not None for b in BACKENDS}
    keys = accepted_keys()
    figures: dict[str, Any] = {"mode": "gpu" if on_gpu else "cpu_race" if args.cpu_race else "cpu", "gpus_seen": seen,
                               "budget_s": round(budget.end - started),
                               # a copy of the tree without .git (the accelerator machine's) is told its commit
                               "source_commit": os.environ.get(COMMIT_ENV) or _head(),
                               "backends_importable": importable, "versions": versions(), "core_keys_accepted": keys,
                               "caps": dataclasses.asdict(caps), "parts": {}}
    print(f"GPU: {seen}\nbackends importable: {importable}\nissue 21's keys accepted: {keys}\nwork folder: {workdir}",
          flush=True)
    try:
        data = fashion_like(workdir / "fashion-like", caps.speed_images)
        parts = figures["parts"]
        backends = [b for b in BACKENDS if importable[b]]
        if "speed" in args.parts:
            parts["speed"] = timed_part("speed", budget, (caps.speed_timeout_s * 2 * len(caps.speed_models) + 20)
                                        * len(backends),
                                        lambda cap: part_speed(backends, keys, caps, workdir, data, on_gpu, budget))
        if "trials_per_gpu" in args.parts:
            needs = sum(caps.k_timeout_s + caps.study_grace_s for _ in caps.k_values)
            parts["trials_per_gpu"] = timed_part(
                "trials_per_gpu", budget, needs,
                lambda cap: part_trials_per_gpu(keys, caps, workdir, data, args.k_backend or ("jax" if on_gpu else "torch"),
                                               on_gpu, budget))
        if "digits" in args.parts:
            parts["digits"] = {}
            for backend in STUDY_BACKENDS:
                if not importable[backend]:
                    parts["digits"][backend] = {"error": f"{backend} is not importable here"}
                    continue
                parts["digits"][backend] = timed_part(
                    f"digits/{backend}", budget, caps.digits_timeout_s + caps.study_grace_s,
                    lambda cap, b=backend: part_digits(b, keys, caps, workdir, on_gpu, cap))
    finally:
        figures["total_s"] = round(time.monotonic() - started, 1)
        if args.keep:
            figures["work_folder"] = str(workdir)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
        write(figures, args)
    return 0


def write(figures: dict[str, Any], args: argparse.Namespace) -> None:
    text = json.dumps(figures, indent=2, default=str)
    print("\n" + text)
    out = args.out or (Path(os.environ["OUT"]) if os.environ.get("OUT") else None)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "gpu_check.json").write_text(text + "\n")
        print(f"written to {out / 'gpu_check.json'}")
    if not args.no_save:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from _common import save_results

        saved = save_results("gpu_check", figures)
        if out is not None:  # the device's $OUT is what comes back: the results file too, named as committed
            shutil.copy(saved, out / saved.name)


if __name__ == "__main__":
    sys.exit(main())
