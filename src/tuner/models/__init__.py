"""The models stage: Keras models built from a plain dict of hyperparameters, and their input stage.

No Optuna or MLflow here. ``hyperparameters`` says what the builder accepts (no Keras import).

Example::

    from tuner.models import build_model
    model = build_model({"arch": "mlp", "width": 50, ...}, (28, 28, 1), 10)
"""

from __future__ import annotations

from tuner.models.builder import (
    build_model,
    build_optimizer,
    describe,
    initializer,
    new_session,
)
from tuner.models.custom import UserBuilder, model_builder, probe

__all__ = ["UserBuilder", "build_model", "build_optimizer", "describe", "initializer", "model_builder", "new_session",
           "probe"]
