"""The config stage: the typed schema behind ``conf/``, composing, validation.

Example::

    from tuner.config import compose, validate
    cfg = compose(["+experiment=digits_cnn", "search.n_trials=3"])
    validate(cfg)
"""

from __future__ import annotations

from tuner.config.backend import BACKENDS, use_backend
from tuner.config.compose import CONF_DIR, compose, experiment_dir, to_yaml
from tuner.config.plugins import instantiate, user_builder
from tuner.config.schema import (
                                 DEVICE_KINDS,
                                 DIRECTIONS,
                                 METRICS,
                                 MODEL_METRICS,
                                 DataConfig,
                                 DeviceConfig,
                                 ExportConfig,
                                 LeaderboardConfig,
                                 PredictConfig,
                                 SearchConfig,
                                 TrackingConfig,
                                 TunerConfig,
)
from tuner.config.secrets import drop_password, hide_password, hide_passwords_in_logs
from tuner.config.settings import plain, to_settings
from tuner.config.validate import objectives, validate

__all__ = ["BACKENDS", "CONF_DIR", "DEVICE_KINDS", "DIRECTIONS", "METRICS", "MODEL_METRICS", "DataConfig", "DeviceConfig",
           "ExportConfig", "LeaderboardConfig", "PredictConfig", "SearchConfig", "TrackingConfig", "TunerConfig",
           "compose", "drop_password", "experiment_dir", "hide_password", "hide_passwords_in_logs", "instantiate",
           "objectives", "plain", "to_settings", "to_yaml", "use_backend", "user_builder", "validate"]
