"""Shared fixtures: a composed config shrunk to test size, every output under tmp_path."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

from omegaconf import DictConfig  # noqa: E402

from tuner.config import compose  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
# 1 epoch, a few hundred images, tiny layers: a trial takes a second or two.
TINY = [
    "data.max_samples=400",
    "search.space.epochs=1",
    "search.space.batch_size=64",
    "search.space.width={type:int,low:8,high:16}",
    "search.space.depth=1",
    "search.n_trials=3",
    "pruner=none",
]
TINY_CNN = ["++search.space.filters={type:categorical,choices:[4,8]}", "++search.space.kernel_size=3"]


@pytest.fixture(autouse=True)
def data_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Decoded-data cache files go to a folder of the test session, never to ~/.cache/tuner."""
    folder = tmp_path_factory.getbasetemp() / "data-cache"
    monkeypatch.setenv("TUNER_CACHE_DIR", str(folder))
    return folder


@pytest.fixture(autouse=True)
def bounded_tracking_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """A study's tracker bounds MLflow's HTTP calls through the environment (``BOUNDED_ENV``): not past its test."""
    from tuner.tracking.sender import BOUNDED_ENV

    for key in BOUNDED_ENV:
        if key in os.environ:
            monkeypatch.setenv(key, os.environ[key])
        else:
            monkeypatch.delenv(key, raising=False)


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run from an empty folder, as a user would from a fresh project root."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def make_cfg(workdir: Path) -> Callable[..., DictConfig]:
    """Compose the config with the tiny overrides, outputs under the test's folder."""

    def make(*overrides: str, tiny: bool = True) -> DictConfig:
        base = [f"experiments_dir={workdir / 'experiments'}", f"tracking.uri=sqlite:///{workdir / 'mlflow.db'}"]
        return compose(base + (TINY if tiny else []) + list(overrides))

    return make
