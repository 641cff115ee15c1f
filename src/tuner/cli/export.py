"""``python -m tuner.export +experiment=<name>``: write the best model's submission CSV and say what it holds."""

from __future__ import annotations

from typing import TYPE_CHECKING

import hydra
from omegaconf import DictConfig

from tuner import app
from tuner.cli.entry import guarded
from tuner.config import CONF_DIR

if TYPE_CHECKING:  # the commands import what loads Keras only once the backend is set
    from tuner.submission.export import Submission


def describe(result: Submission, name: str) -> str:
    """What the export wrote, in the words the command prints."""
    from tuner.submission.export import registry_name

    accuracy = f"{result.test_accuracy:.4f}" if result.test_accuracy is not None else "unknown (no test labels)"
    source = (f"trial {result.trial}" if len(result.trials) < 2
              else f"an ensemble of trials {', '.join(map(str, result.trials))}")
    refit = f" refit on train + validation for {result.refit_epochs} epochs" if result.refit_epochs else ""
    tta = " with mirrored test images averaged in" if result.tta else ""
    lines = [f"wrote {result.path} ({result.rows} rows) from {source}{refit}{tta}; test accuracy {accuracy}"]
    if result.model_version is not None:
        lines.append(f"registered as model '{registry_name(name)}' version {result.model_version}")
    if result.link:
        lines.append(f"the runs in MLflow: {result.link}")
    return "\n".join(lines)


@hydra.main(config_path=str(CONF_DIR), config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> None:
    print(describe(guarded(lambda: app.export(cfg)), cfg.name))
