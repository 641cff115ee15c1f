"""Choosing the Keras backend (``backend=``): the default, a Keras already loaded on another one, a bad name.
The runs on each backend are in tests/e2e/test_backends.py."""

from __future__ import annotations

import os

import keras
import pytest

from tuner.config import compose, to_settings, use_backend
from tuner.errors import ConfigError


def test_the_default_backend_is_keras_backend_from_the_environment(monkeypatch):
    monkeypatch.setenv("KERAS_BACKEND", "torch")
    assert to_settings(compose([])).backend == "torch"
    monkeypatch.delenv("KERAS_BACKEND")
    assert to_settings(compose([])).backend == "tensorflow"
    assert to_settings(compose(["backend=jax"])).backend == "jax"


def test_the_backend_of_a_loaded_keras_cannot_change(monkeypatch):
    assert keras.backend.backend() == "tensorflow"  # this test process's Keras
    assert use_backend("tensorflow") == "tensorflow" and os.environ["KERAS_BACKEND"] == "tensorflow"
    monkeypatch.setenv("KERAS_BACKEND", "tensorflow")
    with pytest.raises(ConfigError, match=r"backend=jax, but Keras is already loaded in this process on tensorflow: "
                                          r".*start a new process with KERAS_BACKEND=jax .*or use backend=tensorflow"):
        use_backend("jax")
    assert os.environ["KERAS_BACKEND"] == "tensorflow"


def test_an_unknown_backend_names_the_choices():
    with pytest.raises(ConfigError, match="backend=theano: Keras has no such backend; use one of tensorflow, jax, torch"):
        use_backend("theano")
