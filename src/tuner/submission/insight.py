"""Why the best model decides as it does (Keras side): confusion matrix, its worst
mistakes, saliency (gradient of the class score with respect to the input), occlusion
maps and the first convolution's filters. Drawing is left to ``tuner.tracking.figures``.

Works with whatever the Dataset holds (float in [0, 1], or uint8 with the scaling
inside the model): images go to the model as they are, cast to float32 only where a
gradient is taken.

Example::

    files = explain(model, data.x_test, data.y_test, data.class_names, Path("insight"), "test")
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import keras
import numpy as np

from tuner.tracking import figures
from tuner.training.predict import predict

N_WORST = 16
N_EXPLAIN = 4


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """Counts of (true, predicted) pairs: rows true labels, columns predictions."""
    matrix = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)), 1)
    return matrix


def worst_mistakes(probs: np.ndarray, y_true: np.ndarray, k: int = N_WORST) -> np.ndarray:
    """Indices of up to ``k`` misclassified images, the most confidently wrong first."""
    pred = probs.argmax(axis=1)
    wrong = np.flatnonzero(pred != y_true)
    return wrong[np.argsort(-probs[wrong, pred[wrong]], kind="stable")][:k]


def saliency(model: keras.Model, x: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """|d score(class) / d input|, the maximum over channels: shape (N, H, W); through the gradients of the
    backend the model runs on."""
    inputs, picks = np.asarray(x, dtype=np.float32), np.asarray(classes, dtype=np.int64)
    grads = {"tensorflow": _tensorflow_grads, "jax": _jax_grads, "torch": _torch_grads}[keras.backend.backend()]
    return np.abs(grads(model, inputs, picks)).max(axis=-1)


def _tensorflow_grads(model: keras.Model, x: np.ndarray, classes: np.ndarray) -> np.ndarray:
    import tensorflow as tf

    inputs = tf.convert_to_tensor(x)
    with tf.GradientTape() as tape:
        tape.watch(inputs)
        scores = tf.gather(model(inputs, training=False), classes, axis=1, batch_dims=1)
    return tape.gradient(scores, inputs).numpy()


def _jax_grads(model: keras.Model, x: np.ndarray, classes: np.ndarray) -> np.ndarray:
    import jax
    import jax.numpy as jnp

    def total_score(inputs: jax.Array) -> jax.Array:
        return jnp.take_along_axis(model(inputs, training=False), jnp.asarray(classes)[:, None], axis=1).sum()

    return np.asarray(jax.grad(total_score)(jnp.asarray(x)))


def _torch_grads(model: keras.Model, x: np.ndarray, classes: np.ndarray) -> np.ndarray:
    import torch

    inputs = keras.ops.convert_to_tensor(x).detach().requires_grad_(True)  # on the device Keras uses
    scores = model(inputs, training=False)
    scores.gather(1, torch.as_tensor(classes, device=scores.device)[:, None]).sum().backward()
    return inputs.grad.detach().cpu().numpy()


def occlusion(model: keras.Model, x: np.ndarray, classes: np.ndarray, patch: int | None = None) -> np.ndarray:
    """How much the class probability drops when a square patch (the images' mean value) hides each
    region, averaged over the patches covering each pixel: shape (N, H, W)."""
    n, h, w = x.shape[:3]
    patch = patch or max(2, min(h, w) // 7)
    stride = max(1, patch // 2)
    fill = np.asarray(x).mean()
    corners = [(i, j) for i in range(0, h - patch + 1, stride) for j in range(0, w - patch + 1, stride)]
    maps = np.zeros((n, h, w), dtype=np.float32)
    for k in range(n):
        base = predict(model, x[k:k + 1])[0, classes[k]]
        batch = np.repeat(x[k:k + 1], len(corners), axis=0)
        for b, (i, j) in enumerate(corners):
            batch[b, i:i + patch, j:j + patch] = fill
        drops = base - predict(model, batch)[:, classes[k]]
        total, count = np.zeros((h, w), np.float32), np.zeros((h, w), np.float32)
        for (i, j), drop in zip(corners, drops):
            total[i:i + patch, j:j + patch] += drop
            count[i:i + patch, j:j + patch] += 1
        maps[k] = total / np.maximum(count, 1)
    return maps


def first_conv_kernel(model: keras.Model) -> np.ndarray | None:
    """The kernel ``(kh, kw, in_channels, filters)`` of the first Conv2D layer (looking inside nested
    models), or None (an MLP)."""
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            return np.asarray(layer.kernel)
        if isinstance(layer, keras.Model):
            kernel = first_conv_kernel(layer)
            if kernel is not None:
                return kernel
    return None


def _explained(probs: np.ndarray, y: np.ndarray, worst: np.ndarray) -> np.ndarray:
    """A few images to explain: up to half the worst mistakes, the rest the most confident right ones."""
    pred = probs.argmax(axis=1)
    right = np.flatnonzero(pred == y)
    right = right[np.argsort(-probs[right, pred[right]], kind="stable")]
    wrong = worst[:N_EXPLAIN // 2]
    return np.concatenate([wrong, right[:N_EXPLAIN - len(wrong)]]).astype(np.int64)


def explain(model: keras.Model, x: np.ndarray, y: np.ndarray, class_names: Sequence[str], out: Path,
            split: str) -> list[Path]:
    """Draw every insight figure of ``model`` on the labelled images ``x, y`` into ``out``; labels are shown by
    their names (``class_names[i]`` names label ``i``)."""
    out.mkdir(parents=True, exist_ok=True)
    names = list(class_names)
    probs = predict(model, x)
    pred = probs.argmax(axis=1)
    accuracy = float(np.mean(pred == y))
    files = [figures.confusion(confusion_matrix(y, pred, len(names)), out / "confusion_matrix.png",
                               f"{split} split: accuracy {accuracy:.4f} on {len(y)} images", names)]
    worst = worst_mistakes(probs, y)
    if len(worst):
        captions = [f"pred {names[pred[i]]} ({probs[i, pred[i]]:.2f})\ntrue {names[y[i]]}" for i in worst]
        files.append(figures.image_grid(x[worst], captions, out / "worst_misclassified.png",
                                        f"most confident mistakes ({split} split)"))
    chosen = _explained(probs, y, worst)
    if len(chosen):
        captions = [f"pred {names[pred[i]]} / true {names[y[i]]}" for i in chosen]
        files.append(figures.heatmaps(x[chosen], saliency(model, x[chosen], pred[chosen]), captions,
                                      out / "saliency.png", "saliency: |d score / d pixel|", "saliency"))
        files.append(figures.heatmaps(x[chosen], occlusion(model, x[chosen], pred[chosen]), captions,
                                      out / "occlusion.png", "occlusion: probability drop", "occlusion"))
    kernel = first_conv_kernel(model)
    if kernel is not None:
        files.append(figures.filters(kernel, out / "first_conv_filters.png",
                                     f"first conv layer: {kernel.shape[-1]} filters {kernel.shape[0]}x{kernel.shape[1]}"))
    return files
