"""Typed schema behind the Hydra config tree in ``conf/``.

The dataclasses below are registered in Hydra's ConfigStore as ``tuner_schema``;
``conf/config.yaml`` extends it, so a misspelt key or a wrong type fails when the
config is composed, before anything is loaded or trained.

Example::

    from tuner.config import TunerConfig, compose
    settings = to_settings(compose(["+experiment=digits_cnn"]))  # a TunerConfig of typed sections
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

# reported every epoch: prunable; the last two (training/scores.py) for unbalanced classes
METRICS = ("val_accuracy", "val_loss", "accuracy", "loss", "val_balanced_accuracy", "val_macro_f1")
MODEL_METRICS = ("n_params", "inference_ms")  # measured once per trained model
DIRECTIONS = ("maximize", "minimize")
DEVICE_KINDS = ("auto", "cpu", "gpu")
MAX_WORKERS_PER_CPU = 4


@dataclass
class DataConfig:
    name: str = MISSING
    source: str = MISSING
    path: Optional[str] = None
    n_classes: Optional[int] = 10  # null: counted from the data (data=images: its class folders)
    val_fraction: float = 0.15
    test_fraction: float = 0.15
    max_samples: Optional[int] = None
    flip_keeps_label: bool = False
    image_size: list[int] = field(default_factory=lambda: [32, 32])  # data=images: [height, width] after resizing
    color_mode: str = "rgb"  # data=images: rgb or grayscale
    cache_dir: Optional[str] = None
    sources: dict[str, Any] = field(default_factory=dict)  # data.source picks one; each entry a _target_


@dataclass
class SearchConfig:
    n_trials: int = 20
    timeout: Optional[float] = None
    n_workers: Optional[int] = None  # null: device.trials_per_gpu x the visible GPUs, 1 on a CPU
    trials_per_worker: Optional[int] = 20  # null: never replace a process (docs/decisions/fresh-worker-processes.md)
    budget_plan: bool = True  # with timeout: size the planned trials' epochs to this machine (docs/decisions/budget-plan.md)
    budget_min_share: float = 0.5  # the budget plan cuts a trial to no fewer than this share of its epochs
    storage: Optional[str] = None
    direction: Any = "maximize"  # a name, or a list of names for several metrics (see objectives())
    metric: Any = "val_accuracy"
    max_failures: int = 10
    trial_seed: Optional[int] = None
    enqueue: list[Any] = field(default_factory=list)
    warm_start: Optional[str] = None  # enqueue the best trials of this experiment's study first
    warm_start_top: int = 5
    warm_start_storage: Optional[str] = None  # where that study lives; null = where this one's would
    space: dict[str, Any] = field(default_factory=dict)


@dataclass
class DeviceConfig:
    kind: str = "auto"
    mixed_precision: bool = False
    deterministic: bool = True
    trials_per_gpu: int = 1  # worker processes per visible GPU, each with its share of the GPU's memory


@dataclass
class TrackingConfig:
    uri: str = "sqlite:///mlflow.db"
    log_models: bool = True
    flush_timeout: float = 60.0  # seconds the end of a run waits to send the calls kept in the tracking spool


@dataclass
class ExportConfig:
    path: Optional[str] = None
    insight: bool = True      # confusion matrix, worst mistakes, saliency, occlusion, filters
    register: bool = True     # a new version of the registered model tuner-<name> per export
    refit: bool = False       # retrain the best configuration on train + validation and submit that model
    refit_epochs: Optional[int] = None  # epochs of the refit; null = the best trial's own epochs
    ensemble: int = 1         # average the predicted probabilities of the best k completed trials' models
    tta: bool = False         # also average each model's prediction on the mirrored test images


@dataclass
class PredictConfig:
    input: Optional[str] = None   # python -m tuner.predict: a folder (walked recursively) or one image file
    output: Optional[str] = None  # the CSV it writes; null: experiments/<name>/predictions.csv
    model: Optional[str] = None   # models:/tuner-<name>/<version>; null: the version the last export registered
    probabilities: bool = False   # also one column per class with its probability


@dataclass
class LeaderboardConfig:
    top: int = 10


@dataclass
class TunerConfig:
    name: str = "default"
    seed: int = 0
    backend: str = "tensorflow"  # conf/config.yaml: $KERAS_BACKEND, else tensorflow
    experiments_dir: str = "experiments"
    data: DataConfig = field(default_factory=DataConfig)
    search: SearchConfig = field(default_factory=SearchConfig)
    model: Any = None
    sampler: Any = None
    pruner: Any = None
    device: DeviceConfig = field(default_factory=DeviceConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    export: ExportConfig = field(default_factory=ExportConfig)
    leaderboard: LeaderboardConfig = field(default_factory=LeaderboardConfig)
    predict: PredictConfig = field(default_factory=PredictConfig)


ConfigStore.instance().store(name="tuner_schema", node=TunerConfig)
