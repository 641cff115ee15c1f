"""The Keras backend a command runs on: ``backend=tensorflow|jax|torch`` (default: ``$KERAS_BACKEND``, else
tensorflow). Keras reads ``KERAS_BACKEND`` once, when it is first imported, so the choice is made here,
before anything imports Keras, and checked against a Keras already loaded (a notebook, a test).
Worker processes inherit the variable.

Example::

    use_backend("jax")   # sets KERAS_BACKEND=jax, or a ConfigError naming the extra to install
"""

from __future__ import annotations

import importlib.util
import os
import sys

from tuner.errors import ConfigError

# backend -> the package it needs, and how to install it
BACKENDS = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}
INSTALL = {"tensorflow": "pip install tensorflow (tuner's default dependency)",
           "jax": "pip install 'tuner[jax]' (or jax with your accelerator's plugin)",
           "torch": "pip install 'tuner[torch]' (or torch built for your accelerator)"}


def loaded_backend() -> str | None:
    """The backend of the Keras already imported in this process, or None when Keras is not loaded."""
    keras = sys.modules.get("keras")
    if keras is None or not hasattr(keras, "backend"):
        return None
    return str(keras.backend.backend())


def installed(name: str) -> bool:
    """Whether backend ``name``'s package can be imported here (without importing it)."""
    try:
        return importlib.util.find_spec(BACKENDS[name]) is not None
    except (ImportError, ValueError):
        return False


def use_backend(name: str) -> str:
    """Make ``name`` the Keras backend of this process and of the workers it starts; returns it.

    A ConfigError when the name is unknown, its package is not installed, or Keras is already loaded on
    another backend."""
    if name not in BACKENDS:
        raise ConfigError(f"backend={name}: Keras has no such backend; use one of {', '.join(BACKENDS)}")
    current = loaded_backend()
    if current is not None and current != name:
        raise ConfigError(f"backend={name}, but Keras is already loaded in this process on {current}: Keras picks "
                          f"its backend once, when it is first imported; start a new process with "
                          f"KERAS_BACKEND={name} (or backend={name} on the command line), or use backend={current}")
    if current is None and not installed(name):
        raise ConfigError(f"backend={name}, but {BACKENDS[name]} is not installed here: {INSTALL[name]}, "
                          f"or pick another backend ({', '.join(b for b in BACKENDS if b != name and installed(b))})")
    os.environ["KERAS_BACKEND"] = name
    if name != "tensorflow":  # Keras loads now, on this backend, told that TensorFlow is not there for it
        from tuner._compat.keras import keep_tensorflow_unloaded

        keep_tensorflow_unloaded()
    return name
