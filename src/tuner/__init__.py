"""tuner: hyperparameter search for Keras image classifiers.

Hydra composes the config, Optuna drives the trials, Keras trains each model
and MLflow tracks every trial. Start with ``python -m tuner +experiment=digits_cnn``.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

__version__ = "0.1.0"
