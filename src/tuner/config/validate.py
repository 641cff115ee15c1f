"""The checks that the schema's types cannot make, run before any data is loaded.

Example::

    validate(cfg)          # a ConfigError naming the key and the fix
    objectives(cfg.search)  # [("val_accuracy", "maximize")]
"""

from __future__ import annotations

import os
from typing import Any

from omegaconf import DictConfig, ListConfig

from tuner.config.images import color_mode_of, image_size_of
from tuner.config.plugins import check_target, user_builder
from tuner.config.schema import (
    DEVICE_KINDS,
    DIRECTIONS,
    MAX_WORKERS_PER_CPU,
    METRICS,
    MODEL_METRICS,
)
from tuner.errors import ConfigError


def validate(cfg: DictConfig) -> None:
    """Check the values that the schema's types cannot, before any data is loaded."""
    s = cfg.search
    if s.n_trials < 1:
        raise ConfigError(f"search.n_trials={s.n_trials}: the budget must be at least 1 trial")
    if s.timeout is not None and s.timeout <= 0:
        raise ConfigError(f"search.timeout={s.timeout}: give a positive number of seconds, or null for none")
    if s.n_workers is not None and s.n_workers < 1:
        raise ConfigError(f"search.n_workers={s.n_workers}: give at least 1 worker process, or null for one per "
                          "device.trials_per_gpu on each GPU (1 on a CPU)")
    if cfg.device.trials_per_gpu < 1:
        raise ConfigError(f"device.trials_per_gpu={cfg.device.trials_per_gpu}: give at least 1 trial per GPU")
    if s.warm_start_top < 1:
        raise ConfigError(f"search.warm_start_top={s.warm_start_top}: enqueue at least 1 trial, or search.warm_start=null")
    if cfg.export.refit_epochs is not None and cfg.export.refit_epochs < 1:
        raise ConfigError(f"export.refit_epochs={cfg.export.refit_epochs}: give at least 1, or null for the trial's own")
    if cfg.export.ensemble < 1:
        raise ConfigError(f"export.ensemble={cfg.export.ensemble}: give at least 1 (1 = the best trial's model alone)")
    if cfg.export.tta and not cfg.data.flip_keeps_label:
        raise ConfigError(f"export.tta=true mirrors the test images, but a mirrored image changes its label on task "
                          f"{cfg.data.name} (data.flip_keeps_label=false); set export.tta=false")
    if s.n_workers is not None and s.n_workers > s.n_trials:
        raise ConfigError(f"search.n_workers={s.n_workers} is more than search.n_trials={s.n_trials}: "
                          f"some workers would have nothing to do; use at most {s.n_trials}")
    if not 0 < s.budget_min_share <= 1:
        raise ConfigError(f"search.budget_min_share={s.budget_min_share}: give a share in (0, 1] of a trial's epochs "
                          "(0.5: the budget plan cuts a trial to no fewer than half its epochs)")
    if s.trials_per_worker is not None and s.trials_per_worker < 1:
        raise ConfigError(f"search.trials_per_worker={s.trials_per_worker}: give at least 1, or null to keep "
                          "each worker for the whole run")
    cpus = len(os.sched_getaffinity(0))
    if s.n_workers is not None and s.n_workers > MAX_WORKERS_PER_CPU * cpus:
        raise ConfigError(f"search.n_workers={s.n_workers} on {cpus} CPU cores would only thrash; use at most "
                          f"{MAX_WORKERS_PER_CPU * cpus} (for more, spread workers over machines: search.storage=...)")
    if cfg.tracking.flush_timeout < 0:
        raise ConfigError(f"tracking.flush_timeout={cfg.tracking.flush_timeout}: give the seconds to wait, 0 or more")
    if s.max_failures < 1:
        raise ConfigError(f"search.max_failures={s.max_failures}: give at least 1")
    d = cfg.data
    if not (0 < d.val_fraction < 1 and 0 < d.test_fraction < 1 and d.val_fraction + d.test_fraction < 1):
        raise ConfigError(
            f"data.val_fraction={d.val_fraction} and data.test_fraction={d.test_fraction}: each must lie in (0, 1) "
            "and together leave some training data"
        )
    if d.max_samples is not None and d.n_classes is not None and d.max_samples < 10 * d.n_classes:
        raise ConfigError(f"data.max_samples={d.max_samples}: keep at least {10 * d.n_classes} images, or null for all")
    image_size_of(d.image_size), color_mode_of(d.color_mode)
    for group in ("model", "sampler", "pruner"):
        check_target(cfg.get(group), group)
    _check_hook(cfg.model)
    for name, entry in cfg.data.sources.items():
        check_target(entry, f"data.sources.{name}")
    objectives(cfg.search)
    if cfg.device.kind not in DEVICE_KINDS:
        raise ConfigError(f"unknown device '{cfg.device.kind}' at device.kind; choose one of: {', '.join(DEVICE_KINDS)} "
                          "(or device=<kind>)")
    if cfg.device.kind == "cpu" and cfg.device.mixed_precision:
        raise ConfigError("device.mixed_precision=true needs a GPU (float16 is slower on a CPU); "
                          "use device=gpu or device=auto, or set device.mixed_precision=false")


def _check_hook(model: Any) -> None:
    """``model.builder`` a dotted path or null, ``model.input_stage`` true or false (only a user's builder may
    turn it off: tuner's own always scales its input)."""
    path = model.get("builder")
    if path is not None and (not isinstance(path, str) or "." not in path.strip(".")):
        raise ConfigError(f"model.builder={path!r}: give <module>.<function>, e.g. model.builder=my_model.build "
                          "(my_model.py in the current folder), or null for tuner's own builder")
    stage = model.get("input_stage", True)
    if not isinstance(stage, bool):
        raise ConfigError(f"model.input_stage={stage!r}: give true (tuner scales and augments the images first) "
                          "or false")
    if stage is False and user_builder(model) is None:
        raise ConfigError("model.input_stage=false applies to a builder of your own (model.builder=...); tuner's "
                          "own builder always scales its input: remove model.input_stage=false")


def objectives(search: Any) -> list[tuple[str, str]]:
    """``search.metric`` and ``search.direction`` (of the ``search`` section) as checked ``(metric, direction)``
    pairs, the first one ranks.

    A name and a direction make a single-objective study; two lists of equal length
    (``search.metric=[val_accuracy,n_params] search.direction=[maximize,minimize]``) a multi-objective one.
    """
    metrics, directions = _listed(search.metric), _listed(search.direction)
    if not metrics or len(metrics) != len(directions):
        raise ConfigError(
            f"search.metric={metrics} and search.direction={directions}: give one direction per metric, "
            "e.g. search.metric=[val_accuracy,n_params] search.direction=[maximize,minimize]"
        )
    for metric in metrics:
        if metric not in METRICS + MODEL_METRICS:
            raise ConfigError(f"unknown metric '{metric}' at search.metric; choose one of: "
                              f"{', '.join(METRICS + MODEL_METRICS)}")
    for direction in directions:
        if direction not in DIRECTIONS:
            raise ConfigError(f"unknown direction '{direction}' at search.direction; choose one of: "
                              f"{', '.join(DIRECTIONS)}")
    if len(set(metrics)) < len(metrics):
        raise ConfigError(f"search.metric={metrics} names a metric twice")
    if metrics[0] not in METRICS:
        raise ConfigError(f"search.metric={metrics}: the first metric ranks the trials and must be reported every "
                          f"epoch ({', '.join(METRICS)}); put {metrics[0]} second")
    return list(zip(metrics, directions))


def _listed(value: Any) -> list[Any]:
    if isinstance(value, (list, ListConfig)):
        return list(value)
    return [value]
