from __future__ import annotations

import keras
import numpy as np
import pytest

from tuner.models.builder import build_model, build_optimizer, initializer
from tuner.models.hyperparameters import INITIALIZERS, OPTIMIZERS

MLP = {"arch": "mlp", "width": 50, "depth": 1, "dropout": 0.0, "activation": "relu", "initializer": "he_normal"}
CNN = {**MLP, "arch": "cnn", "width": 16, "filters": 8, "kernel_size": 3, "pooling": "max", "padding": "same",
       "batch_norm": False}


def dense(n_in: int, n_out: int) -> int:
    return n_in * n_out + n_out


def conv(f: int, d: int, k: int) -> int:
    return (f * f * d) * k + k


def test_mlp_parameter_count_matches_the_tutorial_784_50_10():
    assert build_model(MLP, (28, 28, 1), 10).count_params() == dense(784, 50) + dense(50, 10) == 39_760


def test_deep_mlp_with_dropout():
    model = build_model({**MLP, "depth": 5, "dropout": 0.2}, (28, 28, 1), 10)
    assert model.count_params() == dense(784, 50) + 4 * dense(50, 50) + dense(50, 10)
    assert sum(layer.__class__.__name__ == "Dropout" for layer in model.layers) == 5


def test_cnn_parameter_count_by_hand():
    model = build_model({**CNN, "depth": 2}, (28, 28, 1), 10)
    # 28 -conv same-> 28 -pool-> 14 -conv-> 14 -pool-> 7: flatten 7*7*8
    expected = conv(3, 1, 8) + conv(3, 8, 8) + dense(7 * 7 * 8, 16) + dense(16, 10)
    assert model.count_params() == expected


def test_cnn_valid_padding_and_batch_norm():
    model = build_model({**CNN, "padding": "valid", "kernel_size": 5, "batch_norm": True}, (28, 28, 1), 10)
    # 28 -conv5 valid-> 24 -pool-> 12; no conv bias with batch norm; BN has 4 vectors of 8
    expected = (5 * 5 * 1) * 8 + 4 * 8 + dense(12 * 12 * 8, 16) + dense(16, 10)
    assert model.count_params() == expected


def test_valid_padding_that_shrinks_below_zero_is_an_error():
    with pytest.raises(ValueError):
        build_model({**CNN, "padding": "valid", "kernel_size": 5, "depth": 3}, (8, 8, 1), 10)


def test_activation_and_initializer_reach_every_layer():
    model = build_model({**MLP, "depth": 3, "activation": "tanh", "initializer": "zeros"}, (8, 8, 1), 10)
    dense_layers = [layer for layer in model.layers if layer.__class__.__name__ == "Dense"]
    assert len(dense_layers) == 4
    assert all(layer.activation.__name__ == "tanh" for layer in dense_layers[:-1])
    assert all(not np.any(layer.get_weights()[0]) for layer in dense_layers)


def test_small_random_normal_initializer():
    values = np.asarray(initializer("random_normal")((2000, 10)))
    assert abs(values.std() - 0.01) < 0.001


@pytest.mark.parametrize("name", INITIALIZERS)
def test_every_initializer_builds_the_one_it_names(name):
    init = initializer(name)
    assert isinstance(init, keras.initializers.Initializer)
    assert type(init).__name__ == "".join(part.title() for part in name.split("_"))  # he_normal -> HeNormal
    values = np.asarray(init((64, 64)))
    assert values.shape == (64, 64) and (values == 0).all() == (name == "zeros")


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_every_optimizer_builds(name):
    opt = build_optimizer(name, 0.01)
    assert float(opt.learning_rate) == pytest.approx(0.01)
    if name.startswith("sgd_"):
        assert opt.momentum == 0.9 and opt.nesterov == (name == "sgd_nesterov")


def test_double_conv_blocks_with_growing_filters_and_a_gap_head():
    hp = {**CNN, "depth": 2, "batch_norm": True, "block": "double", "filters_growth": 2, "head": "gap"}
    model = build_model(hp, (28, 28, 1), 10)
    convs = [layer for layer in model.layers if layer.__class__.__name__ == "Conv2D"]
    assert [c.filters for c in convs] == [8, 8, 16, 16]
    # no conv bias with batch norm (4 vectors per BN layer); GAP leaves 16 features for the dense layer
    expected = (9 * 1 * 8 + 4 * 8) + (9 * 8 * 8 + 4 * 8) + (9 * 8 * 16 + 4 * 16) + (9 * 16 * 16 + 4 * 16) \
        + dense(16, 16) + dense(16, 10)
    assert model.count_params() == expected
    assert model.layers[-3].__class__.__name__ == "GlobalAveragePooling2D"


def test_block_defaults_are_the_single_conv_flatten_design():
    explicit = {**CNN, "depth": 2, "block": "single", "filters_growth": 1, "head": "flatten"}
    assert build_model(explicit, (28, 28, 1), 10).count_params() == build_model({**CNN, "depth": 2}, (28, 28, 1),
                                                                                   10).count_params()


def test_batch_norm_momentum_reaches_every_batch_norm_layer_and_defaults_to_keras():

    hp = {**CNN, "depth": 2, "batch_norm": True, "block": "double"}

    def momenta(model: keras.Model) -> list[float]:
        return [layer.momentum for layer in model.layers if layer.__class__.__name__ == "BatchNormalization"]

    assert momenta(build_model({**hp, "batch_norm_momentum": 0.9}, (28, 28, 1), 10)) == [0.9] * 4
    assert momenta(build_model(hp, (28, 28, 1), 10)) == [0.99] * 4


def test_a_lower_batch_norm_momentum_gives_a_short_fit_statistics_that_match_its_data():
    """After 20 steps, Keras' 0.99 has moved the moving mean only 1 - 0.99**20 = 18% of the way from 0 to the
    data's mean, so the model predicts with the wrong statistics; 0.9 has moved it 88%."""
    import keras

    rng = np.random.default_rng(0)
    x = rng.integers(128, 256, (640, 8, 8, 1)).astype("float32")  # bright pixels: conv means far from 0
    y = rng.integers(0, 10, 640)
    gaps = {}
    for momentum in (0.99, 0.9):
        keras.utils.set_random_seed(0)
        model = build_model({**CNN, "batch_norm": True, "batch_norm_momentum": momentum}, (8, 8, 1), 10)
        model.compile("sgd", "sparse_categorical_crossentropy")
        model.fit(x, y, batch_size=32, epochs=1, verbose=0, shuffle=False)  # 20 steps at learning rate 0.01
        conv, norm = model.layers[2], model.layers[3]
        assert [conv.__class__.__name__, norm.__class__.__name__] == ["Conv2D", "BatchNormalization"]
        features = keras.Model(model.inputs, conv.output).predict(x, verbose=0)
        true_mean = features.mean(axis=(0, 1, 2))
        gaps[momentum] = float(np.abs(np.asarray(norm.moving_mean) - true_mean).mean() / np.abs(true_mean).mean())
    assert gaps[0.9] < 0.3 < 0.6 < gaps[0.99], gaps
