"""tuner: hyperparameter search for Keras image classifiers.

Hydra composes the config, Optuna drives the trials, Keras trains each model and MLflow tracks every
trial. Start with ``python -m tuner +experiment=digits_cnn``; from Python (a notebook)::

    import tuner
    best = tuner.run(["+experiment=digits_cnn", "search.n_trials=5"])   # the best val_accuracy
    submission = tuner.export(["+experiment=digits_cnn"])              # .path, .test_accuracy, ...

Both take the overrides the command line takes and run the same code as ``python -m tuner`` and
``python -m tuner.export``; a bad config or missing data raises ``tuner.errors.TunerError``.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

if TYPE_CHECKING:
    from tuner.submission.export import Submission

__version__ = "0.1.0"
__all__ = ["export", "run"]


def run(overrides: list[str] | None = None) -> float:
    """Run (or resume) the study the overrides describe, as ``python -m tuner <overrides>``; returns the best value."""
    from tuner import app
    from tuner.config import compose

    return app.run(compose(overrides), list(overrides or []))


def export(overrides: list[str] | None = None) -> Submission:
    """Write the submission of the study the overrides describe, as ``python -m tuner.export <overrides>``."""
    from tuner import app
    from tuner.config import compose

    return app.export(compose(overrides))
