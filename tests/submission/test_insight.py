"""Model insight on real (untrained or briefly trained) Keras models; any image layout."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from PIL import Image

from tuner.models.builder import build_model, describe, new_session
from tuner.submission.insight import (
    confusion_matrix,
    explain,
    first_conv_kernel,
    occlusion,
    saliency,
    worst_mistakes,
)

CNN = {"arch": "cnn", "depth": 1, "filters": 4, "kernel_size": 3, "padding": "same", "pooling": "max",
       "batch_norm": False, "activation": "relu", "initializer": "he_normal", "width": 8, "dropout": 0.0}
MLP = {"arch": "mlp", "depth": 2, "width": 8, "dropout": 0.1, "activation": "relu", "initializer": "he_normal"}


def test_confusion_matrix_and_worst_mistakes():
    y = np.array([0, 1, 2, 2, 1])
    probs = np.array([[0.9, 0.1, 0.0], [0.2, 0.7, 0.1], [0.6, 0.1, 0.3], [0.1, 0.8, 0.1], [0.4, 0.35, 0.25]])
    matrix = confusion_matrix(y, probs.argmax(axis=1), 3)
    assert matrix.tolist() == [[1, 0, 0], [1, 1, 0], [1, 1, 0]]
    assert worst_mistakes(probs, y).tolist() == [3, 2, 4]  # wrong, most confident first
    assert worst_mistakes(probs, y, k=1).tolist() == [3]


def test_describe_lists_every_layer_with_shapes_and_counts():
    new_session(0)
    model = build_model(CNN, (8, 8, 1), 10)
    text = describe(model)
    lines = text.splitlines()
    assert len(lines) == 2 + len(model.layers) + 1
    conv = next(line for line in lines if "Conv2D" in line)
    assert "(None, 8, 8, 4)" in conv and conv.split()[-1] == str(3 * 3 * 1 * 4 + 4)
    assert f"total params {model.count_params()}" in text


def test_saliency_and_occlusion_point_at_the_pixels_that_decide():
    # class 1 iff the top-left pixel is bright: a fixed linear model on that pixel alone
    inputs = keras.Input((6, 6, 1))
    flat = keras.layers.Flatten()(inputs)
    logits = keras.layers.Dense(2, use_bias=False)(flat)
    model = keras.Model(inputs, keras.layers.Softmax()(logits))
    w = np.zeros((36, 2), np.float32)
    w[0] = [-5.0, 5.0]
    model.layers[2].set_weights([w])
    x = np.zeros((2, 6, 6, 1), np.float32)
    x[:, 0, 0, 0] = 1.0
    classes = np.array([1, 1])
    sal = saliency(model, x, classes)
    assert sal.shape == (2, 6, 6)
    assert sal[0, 0, 0] > 0 and np.count_nonzero(sal[0]) == 1
    occ = occlusion(model, x, classes, patch=2)
    assert occ.shape == (2, 6, 6)
    assert occ[0, 0, 0] == occ[0].max() > 0.3  # hidden by the mean value (1/36): p(1) falls from ~1 to ~0.57 and occ[0, 5, 5] == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("shape,dtype,arch", [((8, 8, 1), np.float32, "cnn"), ((32, 32, 3), np.uint8, "cnn"),
                                               ((28, 28, 1), np.float32, "mlp")])
def test_explain_draws_every_figure_for_any_image_layout(tmp_path, shape, dtype, arch):
    new_session(1)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(40, *shape)).astype(dtype)
    if dtype == np.float32:
        x /= 255.0
    y = rng.integers(0, 10, size=40)
    inner = build_model(CNN if arch == "cnn" else MLP, shape, 10)
    if dtype == np.uint8:  # a model that scales its own uint8 input, as a CIFAR pipeline may
        inputs = keras.Input(shape)
        model = keras.Model(inputs, inner(keras.layers.Rescaling(1 / 255)(inputs)))
    else:
        model = inner
    files = explain(model, x, y, [str(i) for i in range(10)], tmp_path, "validation")
    names = [f.name for f in files]
    expected = ["confusion_matrix.png", "worst_misclassified.png", "saliency.png", "occlusion.png"]
    assert names == expected + (["first_conv_filters.png"] if arch == "cnn" else [])
    for f in files:
        with Image.open(f) as img:
            assert min(img.size) > 100, f.name
    kernel = first_conv_kernel(inner)
    assert (kernel is None) == (arch == "mlp")
    if kernel is not None:
        assert kernel.shape == (3, 3, shape[-1], 4)
