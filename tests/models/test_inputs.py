"""The model's input stage: scaling and per-pixel centring in-graph, augmentation in training only."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from omegaconf import OmegaConf

from tuner.app import prepare
from tuner.config import compose
from tuner.errors import ConfigError
from tuner.models.builder import build_model
from tuner.search.space import parse_space

MLP = {"arch": "mlp", "width": 8, "depth": 1, "dropout": 0.0, "activation": "relu", "initializer": "he_normal"}
AUGMENT = {"augment_shift": 0.2, "augment_rotation": 30.0, "augment_zoom": 0.2, "augment_flip": True}


def first_stage(model: keras.Model) -> keras.Model:
    """The model cut after its input stage (the layer before Flatten)."""
    flatten = next(layer for layer in model.layers if isinstance(layer, keras.layers.Flatten))
    return keras.Model(model.input, flatten.input)


def pixels(n: int = 16, seed: int = 0) -> np.ndarray:
    return np.random.RandomState(seed).randint(0, 256, size=(n, 28, 28, 1)).astype(np.uint8)


def test_default_scales_raw_pixels_to_unit_range():
    x = pixels()
    out = np.asarray(first_stage(build_model(MLP, (28, 28, 1), 10))(x))
    np.testing.assert_allclose(out, x / 255.0, atol=1e-6)


def test_center_subtracts_the_training_mean_of_each_pixel():
    x = pixels(64)
    mean = x.mean(axis=0).astype(np.float32)
    out = np.asarray(first_stage(build_model({**MLP, "preprocess": "center"}, (28, 28, 1), 10, mean))(x))
    np.testing.assert_allclose(out, (x - mean) / 255.0, atol=1e-5)
    assert abs(out.mean(axis=0)).max() < 1e-5
    with pytest.raises(ValueError, match="pixel_mean"):
        build_model({**MLP, "preprocess": "center"}, (28, 28, 1), 10)


def test_augmentation_acts_in_training_only_and_adds_no_parameters(tmp_path):
    x = pixels()
    model = build_model({**MLP, **AUGMENT}, (28, 28, 1), 10)
    assert model.count_params() == build_model(MLP, (28, 28, 1), 10).count_params()
    stage = first_stage(model)
    unchanged = np.asarray(stage(x, training=False))
    np.testing.assert_allclose(unchanged, x / 255.0, atol=1e-6)
    assert np.abs(np.asarray(stage(x, training=True)) - unchanged).mean() > 0.05
    model.save(tmp_path / "m.keras")  # the saved model predicts from raw pixels, unaugmented
    loaded = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)


def test_each_augmentation_on_its_own_changes_training_images():
    x = pixels()
    for key, amount in AUGMENT.items():
        stage = first_stage(build_model({**MLP, key: amount}, (28, 28, 1), 10))
        assert not np.allclose(np.asarray(stage(x, training=True)), x / 255.0), key


def test_flips_are_refused_where_a_mirror_changes_the_label(make_cfg):
    for flip in ("true", "{type:categorical,choices:[false,true]}"):
        with pytest.raises(ConfigError, match="search.space.augment_flip may be true.*task digits"):
            prepare(make_cfg(f"++search.space.augment_flip={flip}"))
    prepare(make_cfg("++search.space.augment_flip=false"))
    prepare(make_cfg("data=cifar10", "++search.space.augment_flip=true"))
    prepare(make_cfg("data=fashion", "++search.space.augment_flip=true"))  # a mirrored shoe is still a shoe


def test_input_stage_hyperparameters_are_checked():
    base = OmegaConf.to_container(compose(["search/space=mlp"]).search.space)
    with pytest.raises(ConfigError, match="unknown value 'whiten' at search.space.preprocess; choose one of: scale, center"):
        parse_space({**base, "preprocess": "whiten"})
    with pytest.raises(ConfigError, match=r"search.space.augment_rotation.high=720 is out of range \[0.0, 180.0\]"):
        parse_space({**base, "augment_rotation": {"type": "float", "low": 0, "high": 720}})
