"""What the benchmarks share: a config whose outputs all go to a fresh folder."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from omegaconf import DictConfig  # noqa: E402

from tuner.config import compose  # noqa: E402


def study_cfg(folder: str, *overrides: str) -> DictConfig:
    """``compose(overrides)`` with the study journal and the MLflow store under ``folder``."""
    return compose([*overrides, f"experiments_dir={folder}/experiments", f"tracking.uri=sqlite:///{folder}/mlflow.db"])


def span_seconds(trials: list) -> float:
    """From the first trial's start to the last trial's end."""
    return (max(t.datetime_complete for t in trials) - min(t.datetime_start for t in trials)).total_seconds()
