"""The training stage: fitting a model, predicting with it, and where it runs (CPU, GPU, precision).

No Optuna or MLflow here: the caller's epoch hook reports progress and may raise to stop. The names
below are imported on first use: ``tuner.training.device`` (which needs no Keras) is used before the
Keras backend is chosen.

Example::

    from tuner.training import train
    result = train(model, hp, dataset, on_epoch=lambda epoch, logs: print(epoch, logs))
"""

from __future__ import annotations

from tuner._lazy import lazy

_FIT = "tuner.training.fit"
__all__ = ["TrainResult", "compile_model", "inference_ms", "mirror", "predict", "refit", "save", "train"]
__getattr__ = lazy(__name__, {**{name: _FIT for name in __all__}, "mirror": "tuner.training.predict",
                              "predict": "tuner.training.predict"})
