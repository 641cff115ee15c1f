"""Mixed precision on a GPU: training throughput and accuracy of tuner's Fashion-MNIST CNN in float32
and in ``mixed_float16`` (what ``device.mixed_precision=true`` sets), side by side.

    .venv/bin/python bench/mixed_precision.py                    # on a machine with a GPU
    .venv/bin/python bench/mixed_precision.py --epochs 1 --images 2000 --configs 16:128   # a CPU smoke run

Each config ``filters:batch_size`` builds ``tuner.models.build_model`` with the fashion_cnn block design
(3 double-conv batch-norm blocks, Flatten head, Adam on a cosine schedule, 5% shifts), trains it for
``--epochs`` on the Fashion-MNIST IDX files (the last 9,000 training images held out for validation)
once per policy, and prints images per second over the epochs after the first (which compiles),
the validation accuracy at the end, and the output dtype (float32 in both: the softmax stays float32).
Any Keras backend works (``KERAS_BACKEND``; tuner itself runs on TensorFlow). The figures also go to
bench/results/mixed_precision-<date>-<time>.json.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
import tuner  # noqa: E402,F401 - quiets TensorFlow before Keras loads it
from _common import save_results  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402

from tuner.data.idx import load_idx_folder  # noqa: E402
from tuner.models.builder import build_model  # noqa: E402
from tuner.training.fit import compile_model  # noqa: E402

HP = {"arch": "cnn", "width": 128, "depth": 3, "dropout": 0.3, "activation": "relu", "initializer": "he_normal",
      "optimizer": "adam", "learning_rate": 2e-3, "epochs": 3, "kernel_size": 3, "pooling": "max",
      "padding": "same", "batch_norm": True, "block": "double", "filters_growth": 2, "head": "flatten",
      "augment_shift": 0.05, "lr_schedule": "cosine"}
VALIDATION = 9_000
POLICIES = ("float32", "mixed_float16")


class EpochClock(keras.callbacks.Callback):
    def __init__(self) -> None:
        super().__init__()
        self.seconds: list[float] = []

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.seconds.append(time.perf_counter() - self.start)


def run(policy: str, filters: int, batch_size: int, epochs: int, shift: float, x: np.ndarray, y: np.ndarray,
        x_val: np.ndarray, y_val: np.ndarray) -> dict[str, float | str]:
    keras.config.set_dtype_policy(policy)
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    hp = {**HP, "filters": filters, "batch_size": batch_size, "epochs": epochs, "augment_shift": shift}
    model = build_model(hp, x.shape[1:], 10)
    compile_model(model, hp, steps=epochs * math.ceil(len(x) / batch_size))  # tuner's optimizer, loss, schedule
    clock = EpochClock()
    model.fit(x, y, batch_size=batch_size, epochs=epochs, validation_data=(x_val, y_val), verbose=0,
              callbacks=[clock])
    _, accuracy = model.evaluate(x_val, y_val, batch_size=1024, verbose=0)
    timed = clock.seconds[1:] or clock.seconds
    return {"images_per_s": len(x) * len(timed) / sum(timed), "first_epoch_s": clock.seconds[0],
            "val_accuracy": float(accuracy), "output_dtype": str(model.output.dtype), "params": model.count_params()}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench/mixed_precision.py", description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path("/usr/share/datasets/fashion-mnist"))
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--images", type=int, default=None, help="use only this many training images")
    parser.add_argument("--shift", type=float, default=HP["augment_shift"], help="augment_shift (0: no augmentation)")
    parser.add_argument("--configs", default="32:256,64:512", help="comma-separated filters:batch_size")
    args = parser.parse_args(argv)
    images = load_idx_folder(args.data, "fashion")
    x, y = images.x, images.y
    x_train, y_train, x_val, y_val = x[:-VALIDATION], y[:-VALIDATION], x[-VALIDATION:], y[-VALIDATION:]
    if args.images:
        x_train, y_train = x_train[:args.images], y_train[:args.images]
    print(f"Keras {keras.__version__}, backend {keras.backend.backend()}, KERAS_BACKEND={os.environ.get('KERAS_BACKEND')}; "
          f"{len(x_train)} train / {len(x_val)} validation images, {args.epochs} epochs, augment_shift={args.shift}", flush=True)
    if keras.backend.backend() == "jax":
        import jax

        print(f"devices: {jax.devices()}", flush=True)
    print(f"{'filters':>7} {'batch':>6} {'policy':>14} {'params':>9} {'images/s':>10} {'1st epoch s':>12} "
          f"{'val acc':>8} {'output':>8}")
    rows, ratios = [], []
    for config in args.configs.split(","):
        filters, batch_size = (int(v) for v in config.split(":"))
        rates = {}
        for policy in POLICIES:
            r = run(policy, filters, batch_size, args.epochs, args.shift, x_train, y_train, x_val, y_val)
            rates[policy] = r["images_per_s"]
            rows.append({"filters": filters, "batch_size": batch_size, "policy": policy, "params": r["params"],
                         "images_per_s": round(r["images_per_s"]), "first_epoch_s": round(r["first_epoch_s"], 1),
                         "val_accuracy": round(r["val_accuracy"], 4), "output_dtype": r["output_dtype"]})
            print(f"{filters:>7} {batch_size:>6} {policy:>14} {r['params']:>9,} {r['images_per_s']:>10,.0f} "
                  f"{r['first_epoch_s']:>12.1f} {r['val_accuracy']:>8.4f} {r['output_dtype']:>8}", flush=True)
        print(f"{'':>7} {'':>6} mixed/float32 throughput: {rates['mixed_float16'] / rates['float32']:.2f}x",
              flush=True)
        ratios.append({"filters": filters, "batch_size": batch_size,
                       "mixed_over_float32": round(rates["mixed_float16"] / rates["float32"], 2)})
    save_results("mixed_precision", {"keras": keras.__version__, "backend": keras.backend.backend(),
                                     "training_images": len(x_train), "epochs": args.epochs,
                                     "augment_shift": args.shift, "runs": rows, "throughput": ratios})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
