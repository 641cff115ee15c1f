"""The models stage: Keras models built from a plain dict of hyperparameters, and their input stage.

No Optuna or MLflow here. ``hyperparameters`` says what the builder accepts (no Keras import).

Example::

    from tuner.models import build_model
    model = build_model({"arch": "mlp", "width": 50, ...}, (28, 28, 1), 10)
"""

from __future__ import annotations

from tuner._lazy import lazy

__all__ = ["UserBuilder", "build_model", "build_optimizer", "describe", "initializer", "model_builder", "new_session",
           "probe"]
# imported on first use: tuner.models.hyperparameters (no Keras) is read before the Keras backend is chosen
__getattr__ = lazy(__name__, {name: "tuner.models.custom" if name in ("UserBuilder", "model_builder", "probe")
                              else "tuner.models.builder" for name in __all__})
