"""A user's own model builder: ``model.builder=<module>.<function>`` names a function
``build(hp, input_shape, n_classes) -> keras.Model``, imported from the current folder (which tuner puts on
``sys.path`` for this import) or from the installed packages.

tuner puts its input stage (``augment_*``, ``preprocess``: ``tuner.models.inputs``) in front of the user's
model unless ``model.input_stage=false``, and compiles it as it compiles its own unless the builder returns
a compiled model. The module travels with every logged model (``code``): its custom layers, registered with
``keras.saving.register_keras_serializable``, load again with Keras' safe mode on.

Example::

    builder = model_builder({"_target_": "tuner.models.build_model", "_partial_": True,
                             "builder": "my_model.build", "input_stage": True})
    model = builder({"blocks": 2, "preprocess": "scale", ...}, (28, 28, 1), 10)
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from pathlib import Path
from typing import Any, Callable, Mapping

import keras
import numpy as np

from tuner.config import instantiate, user_builder
from tuner.errors import ConfigError, TrialFailed
from tuner.models.inputs import input_stage

KEY = "model.builder"


def model_builder(model: Mapping[str, Any]) -> Callable[..., keras.Model]:
    """The model plug point of the ``model`` config: tuner's own builder (its ``_target_``), or a
    ``UserBuilder`` when ``model.builder`` names a function of the user's."""
    path = user_builder(model)
    if path is None:
        return instantiate(model, "model")
    return UserBuilder(path, bool(model.get("input_stage", True)))


def shipped(builder: Any) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """What a model of ``builder`` (a built plug point, or the ``model`` config) needs to load elsewhere: the
    user's module names and their files (``UserBuilder.modules``, ``.code``); nothing for tuner's own builder."""
    if isinstance(builder, Mapping):
        path = user_builder(builder)
        builder = UserBuilder(path) if path is not None else None
    if not isinstance(builder, UserBuilder):
        return (), ()
    return builder.modules, builder.code


def load_function(path: str) -> Callable[..., Any]:
    """The function ``path`` (``<module>.<function>``) names, its module imported from the current folder or the
    installed packages; a ConfigError naming ``model.builder`` and the fix when it does not import or is no
    function."""
    module_name, _, name = path.rpartition(".")
    if not module_name or not name:
        raise ConfigError(f"{KEY}={path}: give <module>.<function>, e.g. {KEY}=my_model.build")
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        module = importlib.import_module(module_name)
    except Exception as err:  # noqa: BLE001 - any failure of the user's module to import is a bad model.builder
        raise ConfigError(f"{KEY}={path}: cannot import module '{module_name}' ({type(err).__name__}: {err}); put "
                          f"{module_name.replace('.', '/')}.py in the current folder ({cwd}) or install its "
                          "package, and check the spelling") from err
    if not hasattr(module, name):
        raise ConfigError(f"{KEY}={path}: module '{module_name}' ({module.__file__}) has no '{name}'; name a "
                          f"function of it, e.g. {KEY}={module_name}.build")
    function = getattr(module, name)
    if not callable(function):
        raise ConfigError(f"{KEY}={path}: '{name}' is a {type(function).__name__}, not a function; name a "
                          "function build(hp, input_shape, n_classes) -> keras.Model")
    return function


def shipped_code(module_name: str) -> tuple[str, ...]:
    """The files that make ``module_name`` importable elsewhere: its top-level package's folder, or the module's
    file. Nothing for a module without a file."""
    spec = importlib.util.find_spec(module_name.split(".")[0])
    if spec is None or spec.origin is None or spec.origin in ("built-in", "frozen"):
        return ()
    origin = Path(spec.origin)
    return (str(origin.parent),) if spec.submodule_search_locations else (str(origin),)


class UserBuilder:
    """The model plug point around a user's ``build(hp, input_shape, n_classes)``; called as tuner's own builder is,
    ``(hp, input_shape, n_classes, pixel_mean)``.

    ``modules`` and ``code`` say what a saved model needs to load: the builder's module, and its files.
    """

    def __init__(self, path: str, with_input_stage: bool = True) -> None:
        self.path, self.with_input_stage = path, with_input_stage
        self.function = load_function(path)
        self.modules = (self.function.__module__ or path.rpartition(".")[0],)
        self.code = shipped_code(self.modules[0])

    def __call__(self, hp: Mapping[str, Any], input_shape: tuple[int, ...], n_classes: int,
                 pixel_mean: np.ndarray | None = None) -> keras.Model:
        body = self.own(hp, tuple(input_shape), n_classes)
        if not self.with_input_stage:
            return body
        inputs = keras.Input(shape=tuple(input_shape))
        model = keras.Model(inputs, body(input_stage(inputs, hp, pixel_mean)), name=body.name)
        if body.compiled:  # the user's own optimizer and loss; tuner reads accuracy every epoch
            model.compile(optimizer=body.optimizer, loss=body.loss, metrics=["accuracy"])
        return model

    def own(self, hp: Mapping[str, Any], input_shape: tuple[int, ...], n_classes: int) -> keras.Model:
        """The user's model alone; TrialFailed naming the builder when it raises or returns no fitting model."""
        try:
            model = self.function(dict(hp), input_shape, n_classes)
        except Exception as err:  # noqa: BLE001 - whatever the user's code raises fails this trial
            raise TrialFailed(f"{KEY}={self.path} raised {type(err).__name__}: {err}") from err
        if not isinstance(model, keras.Model):
            raise TrialFailed(f"{KEY}={self.path} returned a {type(model).__name__}, not a keras.Model")
        units = model.outputs[0].shape[-1] if model.outputs else None
        if len(model.outputs) != 1 or units != n_classes:
            raise TrialFailed(f"{KEY}={self.path} returned a model whose output has {units} units; it must end in "
                              f"one output of n_classes={n_classes} units (class probabilities, e.g. "
                              f"keras.layers.Dense(n_classes, activation='softmax'))")
        return model


def probe(builder: Callable[..., keras.Model], hp: Mapping[str, Any], input_shape: tuple[int, ...],
          n_classes: int, pixel_mean: np.ndarray | None = None) -> None:
    """Build the model once with ``hp`` (the space's first values) before any trial: a ConfigError naming
    ``model.builder`` when a user's builder fails. tuner's own builder is not probed."""
    if not isinstance(builder, UserBuilder):
        return
    try:
        builder(hp, input_shape, n_classes, pixel_mean)
    except TrialFailed as err:
        raise ConfigError(f"{err} (built once before the first trial, with the first values of search.space: "
                          f"{dict(hp)}); fix the builder") from err
    except Exception as err:  # noqa: BLE001 - e.g. the user's layers do not fit tuner's input stage
        raise ConfigError(f"{KEY}={builder.path}: its model cannot be built on tuner's input stage "
                          f"({type(err).__name__}: {err}); fix the builder, or set model.input_stage=false") from err
    finally:
        keras.backend.clear_session()
