"""``python -m tuner.leaderboard +experiment=<name> [leaderboard.top=10]``: the best trials of a
study as a table, read live from the study storage (so it also works while workers run).

Example::

    from tuner.config import compose
    print(top_table(compose(["+experiment=digits_cnn", "leaderboard.top=5"])))
"""

from __future__ import annotations


import hydra
import optuna
from omegaconf import DictConfig

from tuner.config import CONF_DIR
from tuner.cli.entry import guarded
from tuner.errors import ConfigError
from tuner.study import leaderboard, open_study

# Shown in this order when present; every hyperparameter column (hp.*) follows.
FIRST = ("rank", "trial", "state", "value", "n_params", "epochs_run", "seconds")
LAST = ("mlflow_run_id",)


def top_table(cfg: DictConfig) -> str:
    """The first ``leaderboard.top`` rows of the study's leaderboard, formatted for a terminal."""
    top = int(cfg.leaderboard.top)
    if top < 1:
        raise ConfigError(f"leaderboard.top={top}: show at least 1 row")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = open_study(cfg, create=False)
    board = leaderboard(study)
    if board.empty:
        return f"study '{cfg.name}' has no trial yet"
    rows = board.head(top)
    value_cols = [c for c in rows.columns if c == "value" or c.startswith("value")]
    first = [c for c in FIRST if c in rows.columns and c != "value"]
    hp = sorted(c for c in rows.columns if c.startswith("hp."))
    cols = first[:3] + value_cols + first[3:] + hp + [c for c in LAST if c in rows.columns]
    shown = rows[cols].rename(columns=lambda c: c.removeprefix("hp."))
    header = f"{cfg.name}: top {len(rows)} of {len(board)} trials ({study_direction(study)})"
    return header + "\n" + shown.to_string(index=False, na_rep="", float_format=lambda v: f"{v:.4g}")


def study_direction(study: optuna.Study) -> str:
    return ", ".join(d.name.lower() for d in study.directions)


@hydra.main(config_path=str(CONF_DIR), config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> None:
    print(guarded(lambda: top_table(cfg)))
