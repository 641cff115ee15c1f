"""``python -m tuner.leaderboard +experiment=<name> [leaderboard.top=10]``: the best trials of a
study as a table, read live from the study storage (so it also works while workers run)."""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from tuner import app
from tuner.cli.entry import guarded
from tuner.config import CONF_DIR


@hydra.main(config_path=str(CONF_DIR), config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> None:
    print(guarded(lambda: app.leaderboard(cfg)))
