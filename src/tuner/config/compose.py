"""Composing the config tree in ``conf/`` without Hydra's app, and writing it back out.

Example::

    cfg = compose(["+experiment=digits_cnn", "search.n_trials=3"])
    print(to_yaml(cfg))
"""

from __future__ import annotations

import warnings
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

import tuner.config.schema  # noqa: F401 - registers tuner_schema in Hydra's ConfigStore
from tuner.errors import ConfigError

CONF_DIR = Path(__file__).resolve().parents[1] / "conf"  # src/tuner/conf: the top-level conf/, shipped in the wheel
# conf/config.yaml adds the current folder's conf/ to the search path (a user's own experiments); Hydra warns on
# every command run where there is none, which is the usual case, not a mistake
warnings.filterwarnings("ignore", message=r"provider=hydra\.searchpath in main, path=conf is not available",
                        category=UserWarning)


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


def experiment_dir(experiments_dir: str | Path, name: str) -> Path:
    """``experiments/<name>/``: the study storage, leaderboard and submission of one experiment (created)."""
    path = Path(experiments_dir) / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def to_yaml(cfg: DictConfig) -> str:
    """The composed config as YAML, interpolations resolved (``hydra`` section left out)."""
    container = OmegaConf.to_container(cfg, resolve=True)
    if isinstance(container, dict):
        container.pop("hydra", None)
    return OmegaConf.to_yaml(container)
