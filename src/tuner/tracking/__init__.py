"""The tracking stage: MLflow runs (one parent per study, one child per trial), what is logged to them,
and the figures and study plots drawn for them. Never imports Keras: models arrive as objects handed on to
``mlflow.keras`` (``logged_model.py``).

Example::

    from tuner.tracking import Tracker
    tracker = Tracker("sqlite:///mlflow.db", "digits_cnn")
"""

from __future__ import annotations

from tuner.tracking.tracker import Tracker

__all__ = ["Tracker"]
