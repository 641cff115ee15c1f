"""``python -m tuner +experiment=<name>`` (and the ``tuner`` console script): compose the config, run the study."""

from __future__ import annotations

import logging

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from tuner import app
from tuner.cli.entry import guarded
from tuner.config import CONF_DIR

log = logging.getLogger("tuner")


@hydra.main(config_path=str(CONF_DIR), config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> float | None:
    """Run (or resume) the study; returns the best value, which Hydra's sweepers read."""
    return guarded(lambda: app.run(cfg, list(HydraConfig.get().overrides.task)))
