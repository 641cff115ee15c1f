"""CPU cost of TensorFlow op determinism (device.deterministic, on by default) on a small CNN.

    .venv/bin/python bench/determinism.py [epochs] [repeats]

Trains the same small CNN (32 filters, 2 conv blocks, width 64, batch 64) on the
embedded MNIST-5k training split, in a fresh process per measurement (op
determinism cannot be switched off once on), alternating off/on; prints the median
`model.fit` seconds of each and their ratio, and whether two deterministic runs give
bit-identical validation losses. The figures also go to bench/results/determinism-<date>-<time>.json.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from _common import save_results  # noqa: E402

HP = {"arch": "cnn", "width": 64, "depth": 2, "dropout": 0.2, "activation": "relu", "initializer": "he_normal",
      "filters": 32, "kernel_size": 3, "pooling": "max", "padding": "same", "batch_norm": False,
      "optimizer": "adam", "learning_rate": 1e-3, "batch_size": 64}


def child(deterministic: bool, epochs: int) -> None:
    """One measurement: print the fit's seconds and its validation losses as JSON."""
    import tensorflow as tf

    from tuner.config import compose
    from tuner.data import load_dataset
    from tuner.models.builder import build_model, new_session
    from tuner.training.fit import train

    if deterministic:
        tf.config.experimental.enable_op_determinism()
    data = load_dataset(compose([]).data, 0)
    hp = {**HP, "epochs": 1}
    new_session(0)  # warm-up: TensorFlow's one-time start-up is charged to neither side
    train(build_model(hp, data.input_shape, data.n_classes), hp, data)
    hp = {**HP, "epochs": epochs}
    new_session(1)
    result = train(build_model(hp, data.input_shape, data.n_classes), hp, data)
    print(json.dumps({"seconds": result.seconds, "val_loss": result.history["val_loss"]}))


def measure(deterministic: bool, epochs: int) -> dict:
    done = subprocess.run([sys.executable, __file__, "--child", str(int(deterministic)), str(epochs)],
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(epochs: int, repeats: int) -> None:
    runs: dict[bool, list[dict]] = {False: [], True: []}
    for _ in range(repeats):
        for deterministic in (False, True):
            runs[deterministic].append(measure(deterministic, epochs))
    off = statistics.median(r["seconds"] for r in runs[False])
    on = statistics.median(r["seconds"] for r in runs[True])
    print(f"small CNN, {epochs} epochs on 3,500 digits, median of {repeats} fresh processes each")
    print(f"op determinism off: {off:.2f} s   on: {on:.2f} s   on/off: {on / off:.3f}")
    for deterministic, label in ((False, "off"), (True, "on")):
        print(f"  {label}: " + " ".join(f"{r['seconds']:.2f}" for r in runs[deterministic]))
    same = all(r["val_loss"] == runs[True][0]["val_loss"] for r in runs[True])
    same_off = all(r["val_loss"] == runs[False][0]["val_loss"] for r in runs[False])
    print(f"bit-identical val_loss across runs: deterministic {same}, non-deterministic {same_off}")
    save_results("determinism", {
        "epochs": epochs, "repeats": repeats, "median_off_s": round(off, 2), "median_on_s": round(on, 2),
        "on_off_ratio": round(on / off, 3), "off_s": [round(r["seconds"], 2) for r in runs[False]],
        "on_s": [round(r["seconds"], 2) for r in runs[True]], "bit_identical_on": same, "bit_identical_off": same_off})


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(bool(int(sys.argv[2])), int(sys.argv[3]))
    else:
        main(int(sys.argv[1]) if len(sys.argv) > 1 else 3, int(sys.argv[2]) if len(sys.argv) > 2 else 3)
