"""Typed schema behind the Hydra config tree in ``conf/``.

The dataclasses below are registered in Hydra's ConfigStore as ``tuner_schema``;
``conf/config.yaml`` extends it, so a misspelt key or a wrong type fails when the
config is composed, before anything is loaded or trained.

Example::

    from tuner.config import compose
    cfg = compose(["+experiment=digits_cnn", "search.n_trials=3"])
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf

from tuner.errors import ConfigError

CONF_DIR = Path(__file__).resolve().parents[2] / "conf"
METRICS = ("val_accuracy", "val_loss", "accuracy", "loss")
DIRECTIONS = ("maximize", "minimize")
MAX_WORKERS_PER_CPU = 4


@dataclass
class DataConfig:
    name: str = MISSING
    source: str = MISSING
    path: Optional[str] = None
    n_classes: int = 10
    val_fraction: float = 0.15
    test_fraction: float = 0.15
    max_samples: Optional[int] = None


@dataclass
class SearchConfig:
    n_trials: int = 20
    timeout: Optional[float] = None
    n_workers: int = 1
    trials_per_worker: Optional[int] = None
    storage: Optional[str] = None
    direction: str = "maximize"
    metric: str = "val_accuracy"
    max_failures: int = 10
    trial_seed: Optional[int] = None
    enqueue: list[Any] = field(default_factory=list)
    space: dict[str, Any] = field(default_factory=dict)


@dataclass
class TrackingConfig:
    uri: str = "sqlite:///mlflow.db"
    log_models: bool = True


@dataclass
class ExportConfig:
    path: Optional[str] = None


@dataclass
class TunerConfig:
    name: str = "default"
    seed: int = 0
    experiments_dir: str = "experiments"
    data: DataConfig = field(default_factory=DataConfig)
    search: SearchConfig = field(default_factory=SearchConfig)
    sampler: Any = None
    pruner: Any = None
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    export: ExportConfig = field(default_factory=ExportConfig)


ConfigStore.instance().store(name="tuner_schema", node=TunerConfig)


def compose(overrides: list[str] | None = None) -> DictConfig:
    """Compose ``conf/config.yaml`` with command-line style overrides, without running Hydra's app."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.errors import HydraException

    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            return hydra_compose("config", overrides=list(overrides or []))
    except HydraException as err:
        raise ConfigError(str(err)) from err


def validate(cfg: DictConfig) -> None:
    """Check the values that the schema's types cannot, before any data is loaded."""
    s = cfg.search
    if s.n_trials < 1:
        raise ConfigError(f"search.n_trials={s.n_trials}: the budget must be at least 1 trial")
    if s.timeout is not None and s.timeout <= 0:
        raise ConfigError(f"search.timeout={s.timeout}: give a positive number of seconds, or null for none")
    if s.n_workers < 1:
        raise ConfigError(f"search.n_workers={s.n_workers}: give at least 1 worker process")
    if s.n_workers > s.n_trials:
        raise ConfigError(f"search.n_workers={s.n_workers} is more than search.n_trials={s.n_trials}: "
                          f"some workers would have nothing to do; use at most {s.n_trials}")
    if s.trials_per_worker is not None and s.trials_per_worker < 1:
        raise ConfigError(f"search.trials_per_worker={s.trials_per_worker}: give at least 1, or null to keep "
                          "each worker for the whole run")
    cpus = len(os.sched_getaffinity(0))
    if s.n_workers > MAX_WORKERS_PER_CPU * cpus:
        raise ConfigError(f"search.n_workers={s.n_workers} on {cpus} CPU cores would only thrash; use at most "
                          f"{MAX_WORKERS_PER_CPU * cpus} (for more, spread workers over machines: search.storage=...)")
    if s.direction not in DIRECTIONS:
        raise ConfigError(f"unknown direction '{s.direction}' at search.direction; choose one of: {', '.join(DIRECTIONS)}")
    if s.metric not in METRICS:
        raise ConfigError(f"unknown metric '{s.metric}' at search.metric; choose one of: {', '.join(METRICS)}")
    if s.max_failures < 1:
        raise ConfigError(f"search.max_failures={s.max_failures}: give at least 1")
    d = cfg.data
    if not (0 < d.val_fraction < 1 and 0 < d.test_fraction < 1 and d.val_fraction + d.test_fraction < 1):
        raise ConfigError(
            f"data.val_fraction={d.val_fraction} and data.test_fraction={d.test_fraction}: each must lie in (0, 1) "
            "and together leave some training data"
        )
    if d.max_samples is not None and d.max_samples < 10 * d.n_classes:
        raise ConfigError(f"data.max_samples={d.max_samples}: keep at least {10 * d.n_classes} images, or null for all")
    for group in ("sampler", "pruner"):
        node = cfg.get(group)
        if node is None or "_target_" not in node:
            raise ConfigError(f"{group} has no _target_: pick one with {group}=<name> (see conf/{group}/)")


def experiment_dir(cfg: DictConfig) -> Path:
    """``experiments/<name>/``: the study storage, leaderboard and submission of one experiment."""
    path = Path(cfg.experiments_dir) / cfg.name
    path.mkdir(parents=True, exist_ok=True)
    return path


def to_yaml(cfg: DictConfig) -> str:
    """The composed config as YAML, interpolations resolved (``hydra`` section left out)."""
    container = OmegaConf.to_container(cfg, resolve=True)
    if isinstance(container, dict):
        container.pop("hydra", None)
    return OmegaConf.to_yaml(container)


def override_line(overrides: list[str]) -> str:
    """Quote Hydra overrides for a shell command line."""
    return " ".join(shlex.quote(o) for o in overrides)
