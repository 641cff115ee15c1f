"""A tuner search space (``tuner.search.parse_space``) as a KerasTuner hypermodel.

Every entry becomes one KerasTuner hyperparameter of the same name, range and
scale: ``fixed`` -> ``hp.Fixed``, ``int``/``float`` -> ``hp.Int``/``hp.Float``
(``sampling="log"`` for ``log: true``, the same ``step``), ``categorical`` ->
``hp.Choice`` (``hp.Boolean`` for ``[true, false]``). A ``when`` condition becomes
nested ``hp.conditional_scope`` blocks, so CNN-only entries exist only when
``arch`` is ``cnn``. The model is tuner's own (``tuner.models.build_model``,
compiled by ``tuner.training.compile_model``): both tools train identical networks.
A ``prior`` is not translated: tuner's priors are its own feature, KerasTuner's tuners sample as they do.

Example::

    import keras_tuner
    space = parse_space(cfg.search.space)
    hypermodel = TunerHyperModel(space, (28, 28, 1), 10)
    model = hypermodel.build(keras_tuner.HyperParameters())
"""

from __future__ import annotations

import contextlib
import math
from typing import Any, Mapping

# isort: off
import tuner  # noqa: F401 - quiets TensorFlow before keras_tuner imports it
import keras
import keras_tuner
import numpy as np
# isort: on

from tuner.models.hyperparameters import HYPERPARAMETERS
from tuner.search.space import Param


def declare(hp: keras_tuner.HyperParameters, space: Mapping[str, Param]) -> dict[str, Any]:
    """Register every entry of ``space`` on ``hp``; return the active ones' values (as ``tuner.search.sample``).

    Entries come in dependency order (``parse_space`` sorts them), so a condition's parent exists
    before its children. An inactive entry is still registered (KerasTuner learns the whole space
    from the first build) but left out of the returned values.
    """
    values: dict[str, Any] = {}
    for name, p in space.items():
        with contextlib.ExitStack() as scopes:
            for parent, allowed in p.when.items():
                scopes.enter_context(hp.conditional_scope(parent, list(allowed)))
            drawn = _register(hp, p)
        if p.active(values):
            values[name] = HYPERPARAMETERS[name].kind(drawn)  # KerasTuner's Choice keeps bools as ints
    return values


def _register(hp: keras_tuner.HyperParameters, p: Param) -> Any:
    if p.type == "fixed":
        return hp.Fixed(p.name, p.value)
    if p.type == "categorical":
        if set(p.choices) == {True, False} and all(isinstance(c, bool) for c in p.choices):
            return hp.Boolean(p.name)
        return hp.Choice(p.name, list(p.choices))
    sampling = "log" if p.log else "linear"
    if p.type == "int":
        step = None if p.log else int(p.step or 1)
        return hp.Int(p.name, int(p.low), int(p.high), step=step, sampling=sampling)
    if p.type == "float":
        return hp.Float(p.name, float(p.low), float(p.high), step=p.step, sampling=sampling)
    raise ValueError(f"search.space.{p.name}: unknown type {p.type!r}")


class TunerHyperModel(keras_tuner.HyperModel):
    """tuner's model for a KerasTuner search: ``build`` draws the space, ``fit`` takes ``batch_size``
    and ``epochs`` from it (Hyperband passes its own ``epochs``/``initial_epoch``, which win)."""

    def __init__(self, space: Mapping[str, Param], input_shape: tuple[int, ...], n_classes: int,
                 pixel_mean: np.ndarray | None = None) -> None:
        super().__init__(name="tuner_space")
        self.space, self.input_shape, self.n_classes, self.pixel_mean = dict(space), input_shape, n_classes, pixel_mean

    def build(self, hp: keras_tuner.HyperParameters) -> keras.Model:
        from tuner.models.builder import build_model
        from tuner.training.fit import compile_model

        values = declare(hp, self.space)
        model = build_model(values, self.input_shape, self.n_classes, self.pixel_mean)
        compile_model(model, values)
        return model

    def fit(self, hp: keras_tuner.HyperParameters, model: keras.Model, x: Any, *args: Any, **kwargs: Any) -> Any:
        """Fit as tuner's ``train`` does: a learning-rate schedule spans the trial's planned ``epochs``
        (recompiled here, where the image count is known; ``build`` cannot know it)."""
        from tuner.training.fit import compile_model

        values = declare(hp, self.space)
        planned, batch_size = int(values["epochs"]), int(values["batch_size"])
        compile_model(model, values, steps=planned * math.ceil(len(x) / batch_size))
        kwargs.setdefault("epochs", planned)
        kwargs["verbose"] = 0
        return model.fit(x, *args, batch_size=batch_size, **kwargs)
