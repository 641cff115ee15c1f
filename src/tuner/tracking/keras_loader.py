"""Loading an MLflow Keras model whose custom layers come from a user's module (``model.builder``).

The module travels with the model in its ``code/`` folder, and so does this file (as
``tuner_keras_loader.py``, the model's pyfunc ``loader_module``): ``mlflow.pyfunc.load_model`` and
``mlflow models serve`` put ``code/`` on ``sys.path`` and call ``_load_pyfunc``, which imports the modules the
``MLmodel`` metadata lists (``custom_modules``), so their ``keras.saving.register_keras_serializable`` layers are
registered, then loads the model as the Keras flavor does, Keras' safe mode on. Standalone: it imports
only the standard library and MLflow, so a model server needs no tuner.

Example::

    register_modules("/tmp/model")  # ["my_model"]: imported from /tmp/model/code
    keras.saving.load_model("/tmp/model/data/model.keras", safe_mode=True)
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

CODE_DIR = "code"
LOADER_MODULE = "tuner_keras_loader"
MODULES_KEY = "custom_modules"


def register_modules(path: str) -> list[str]:
    """Import the modules the MLflow model at ``path`` lists in its metadata (``custom_modules``), from its
    ``code/`` folder (put first on ``sys.path``); returns their names."""
    from mlflow.models import Model

    meta = Model.load(os.path.join(path, "MLmodel")).metadata or {}
    modules = [str(m) for m in meta.get(MODULES_KEY, [])]
    code = os.path.join(path, CODE_DIR)
    if modules and os.path.isdir(code) and code not in sys.path:
        sys.path.insert(0, code)
    for name in modules:
        importlib.import_module(name)
    return modules


def _load_pyfunc(path: str) -> Any:
    """What ``mlflow.pyfunc.load_model`` calls: the modules registered, then the Keras flavor's own loader."""
    from mlflow.keras.load import _load_pyfunc as load_keras_pyfunc

    register_modules(path)
    return load_keras_pyfunc(path)
