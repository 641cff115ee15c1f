"""The wiring: the one module that holds the whole config and hands each stage its own part.

``tuner.cli`` (the commands) and the Python API (``tuner.run``, ``tuner.export``) call these functions.

Example::

    from tuner.config import compose
    best = run(compose(["+experiment=digits_cnn", "search.n_trials=2"]))
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from omegaconf import DictConfig

from tuner.config import objectives, validate
from tuner.errors import TunerError

if TYPE_CHECKING:
    from tuner.export.submission import Submission
    from tuner.runner.replay import Replayed

log = logging.getLogger("tuner")


def run(cfg: DictConfig, overrides: list[str] | None = None) -> float:
    """Run (or resume) the study ``cfg`` describes to its budget; returns the best value of its first metric.

    ``overrides`` are the command-line overrides that composed ``cfg``; each trial's replay command keeps them.
    """
    from tuner.runner.loop import run_study
    from tuner.training.device import configure

    validate(cfg)
    configure(cfg.device)  # worker processes pick their own GPU again (configure keeps the full list)
    best = run_study(cfg, list(overrides or []))
    if best is None:
        raise TunerError(
            f"no trial completed in study {cfg.name} (search.timeout={cfg.search.timeout}, search.n_trials="
            f"{cfg.search.n_trials}): nothing to export; give a budget that fits at least one whole trial "
            "(raise search.timeout) and see the log for pruned or failed trials")
    log.info("best %s: %s", objectives(cfg)[0][0], best)
    return best


def export(cfg: DictConfig) -> Submission:
    """Write the submission CSV of the study ``cfg`` describes (see ``tuner.export.submission.export``)."""
    from tuner.export.submission import export as export_submission
    from tuner.training.device import configure

    validate(cfg)
    configure(cfg.device)
    return export_submission(cfg)


def replay(cfg: DictConfig, number: int) -> Replayed:
    """Retrain trial ``number`` of the study ``cfg`` describes and compare its values."""
    from tuner.runner.replay import replay as replay_trial
    from tuner.training.device import configure

    validate(cfg)
    configure(cfg.device)
    return replay_trial(cfg, number)
