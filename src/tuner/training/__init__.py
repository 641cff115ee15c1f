"""The training stage: fitting a model, predicting with it, and where it runs (CPU, GPU, precision).

No Optuna or MLflow here: the caller's epoch hook reports progress and may raise to stop.

Example::

    from tuner.training import train
    result = train(model, hp, dataset, on_epoch=lambda epoch, logs: print(epoch, logs))
"""

from __future__ import annotations

from tuner.training.fit import (
    TrainResult,
    compile_model,
    inference_ms,
    refit,
    save,
    train,
)
from tuner.training.predict import mirror, predict

__all__ = ["TrainResult", "compile_model", "inference_ms", "mirror", "predict", "refit", "save", "train"]
