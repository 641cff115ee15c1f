"""``python -m tuner.predict +experiment=<name> predict.input=PATH predict.output=FILE``: label new images (a
folder, walked recursively, or one file) with the experiment's submitted model and say what it read and wrote."""

from __future__ import annotations

from typing import TYPE_CHECKING

import hydra
from omegaconf import DictConfig

from tuner import app
from tuner.cli.entry import guarded
from tuner.config import CONF_DIR

if TYPE_CHECKING:  # the commands import what loads Keras only once the backend is set
    from tuner.submission.predict import Predictions


def describe(result: Predictions) -> str:
    """What the prediction read and wrote, in the words the command prints.

    Example::

        describe(result)  # "read 120 images (skipped 3 other files); wrote predictions.csv with models:/tuner-x/2"
    """
    skipped = f" (skipped {result.skipped} files that are not images)" if result.skipped else ""
    return (f"read {result.read} image{'s' if result.read != 1 else ''}{skipped}; wrote {result.path} "
            f"({result.read} rows) with {result.model}, classes {', '.join(result.class_names)}")


@hydra.main(config_path=str(CONF_DIR), config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> None:
    print(describe(guarded(lambda: app.predict(cfg))))
