"""What the benchmarks share: a config whose outputs all go to a fresh folder, and the one writer of
their results (``bench/results/<name>-<date>-<time>.json``, which ``python -m bench.render`` turns into
the tables of docs/benchmarks.md).

Example::

    save_results("overhead", {"overhead_ratio": 1.044, "study_s": 74.0})
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import shlex
import shutil
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from omegaconf import DictConfig  # noqa: E402

from tuner.config import compose  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
# where save_results writes; TUNER_BENCH_RESULTS sends a smoke run's file elsewhere
RESULTS_ENV = "TUNER_BENCH_RESULTS"
# A middle-of-the-space trial of conf/search/space/cnn.yaml, 5 epochs: what per-trial costs are measured against.
MID_CNN = {"arch": "cnn", "width": 96, "depth": 2, "filters": 32, "kernel_size": 3, "pooling": "max",
           "padding": "same", "batch_norm": False, "dropout": 0.2, "activation": "relu", "initializer": "he_normal",
           "optimizer": "adam", "learning_rate": 1e-3, "batch_size": 64, "epochs": 5}


def study_cfg(folder: str, *overrides: str) -> DictConfig:
    """``compose(overrides)`` with the study journal and the MLflow store under ``folder``."""
    return compose([*overrides, f"experiments_dir={folder}/experiments", f"tracking.uri=sqlite:///{folder}/mlflow.db"])


def span_seconds(trials: list) -> float:
    """From the first trial's start to the last trial's end."""
    return (max(t.datetime_complete for t in trials) - min(t.datetime_start for t in trials)).total_seconds()


def _git(*args: str) -> str | None:
    """The stripped output of ``git args`` in the repository, or None without git or outside a checkout."""
    if not shutil.which("git"):
        return None
    done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
    return done.stdout.strip() if done.returncode == 0 else None


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _gpus() -> list[str]:
    """The names of the NVIDIA GPUs that ``nvidia-smi`` lists (none without it)."""
    if not shutil.which("nvidia-smi"):
        return []
    done = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True, text=True)
    return [line.strip() for line in done.stdout.splitlines() if line.strip()] if done.returncode == 0 else []


def machine() -> dict[str, Any]:
    """Cores this process may use, CPU model, RAM, GPUs, and the load when the figures were written."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") if hasattr(os, "sysconf") else None
    return {"cores": cores, "cpu": _cpu_model(), "ram_gib": round(ram / 2**30, 1) if ram else None,
            "gpu": ", ".join(_gpus()) or None, "load_1min": round(os.getloadavg()[0], 2),
            "python": platform.python_version()}


def command_line() -> str:
    """This process's command line as typed, the interpreter relative to the repository when it lies inside it."""
    argv = list(sys.orig_argv)
    interpreter = Path(argv[0])
    if interpreter.is_absolute() and interpreter.is_relative_to(ROOT):
        argv[0] = str(interpreter.relative_to(ROOT))
    return shlex.join(argv)


def summary_sentence(doc: str | None) -> str | None:
    """The first sentence of a docstring's first paragraph, its line breaks joined: what a benchmark measures.
    Its first line alone would cut the sentence where the docstring wraps."""
    paragraph = " ".join((doc or "").strip().split("\n\n")[0].split())
    return re.split(r"(?<=\.)\s", paragraph, maxsplit=1)[0] or None


def _script_summary() -> str | None:
    """The running script's summary sentence (``summary_sentence`` of its docstring)."""
    return summary_sentence(getattr(sys.modules.get("__main__"), "__doc__", None))


def save_results(name: str, figures: dict[str, Any], notes: str | None = None) -> Path:
    """Write one run's ``figures`` (and ``notes``, a sentence or two on how to read them) with its date, commit,
    machine and command line; return the file.

    ``name`` is the benchmark's (its script's) name. The file is ``bench/results/<name>-<date>-<time>.json``
    (or under ``$TUNER_BENCH_RESULTS``), described by the first sentence of the script's docstring. Commit it,
    then ``python -m bench.render`` puts it in docs/benchmarks.md.
    """
    now = dt.datetime.now()
    status = _git("status", "--porcelain", "--untracked-files=no")
    folder = Path(os.environ.get(RESULTS_ENV) or ROOT / "bench" / "results")
    folder.mkdir(parents=True, exist_ok=True)
    record = {
        "name": name,
        "date": now.date().isoformat(),
        "finished": now.isoformat(timespec="seconds"),
        "commit": _git("rev-parse", "HEAD"),
        "dirty": None if status is None else bool(status),  # uncommitted changes to tracked files
        "machine": machine(),
        "command": command_line(),
    }
    description = _script_summary()
    if description:
        record["description"] = description
    record["figures"] = figures
    if notes:
        record["notes"] = notes  # rendered under the figures' table
    path = folder / f"{name}-{now:%Y-%m-%d-%H%M%S}.json"
    path.write_text(json.dumps(record, indent=2) + "\n")
    print(f"results written to {path}")
    return path
