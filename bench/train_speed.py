"""Training speed on this machine's CPU: images per second of `model.fit` for one CNN, by input
path (NumPy arrays handed to Keras, as before issue 6, or tuner's tf.data pipeline), XLA and batch size.

    .venv/bin/python bench/train_speed.py [batches [pipeline|batch|jit]] [--hp key=value ...]

Each configuration fits two epochs of `batches` batches of Fashion-MNIST training images and is
timed on the second (the first compiles). The CNN is the fashion_cnn space's double-conv
batch-norm block design unless --hp changes it. `pipeline` (default) compares the NumPy arrays
handed to Keras with the tf.data pipeline, `batch` batch sizes 64/128/256, `jit` XLA off and on
(in a process with op determinism off and no augmentation, since Keras compiles neither with
XLA); the others keep determinism on, as a study does. CPU-seconds (all threads) are printed
beside wall seconds: they suffer less when other processes share the machine.

    .venv/bin/python bench/train_speed.py epochs <n> [--hp key=value ...] [--set override ...]

fits the same CNN for `n` full epochs on the whole training split (54,000 images) and prints
seconds per epoch and validation accuracy after each. `--set` passes a config override such as
`data.max_samples=10000` or `seed=2` (the split) to the fashion_cnn experiment the data comes from.

Either way the figures also go to bench/results/train_speed-<date>-<time>.json.
"""

from __future__ import annotations

import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from _common import save_results  # noqa: E402

from tuner.config import compose  # noqa: E402
from tuner.data import load_dataset  # noqa: E402
from tuner.models.builder import build_model, new_session  # noqa: E402
from tuner.training.device import activate  # noqa: E402

HP = {"arch": "cnn", "width": 128, "depth": 3, "dropout": 0.3, "activation": "relu", "initializer": "he_normal",
      "optimizer": "adam", "learning_rate": 2e-3, "batch_size": 128, "epochs": 2, "filters": 32, "kernel_size": 3,
      "pooling": "max", "padding": "same", "batch_norm": True, "block": "double", "filters_growth": 2,
      "head": "gap", "augment_shift": 0.05, "lr_schedule": "cosine"}


def parse(args: list[str]) -> tuple[list[str], dict, list[str]]:
    hp, rest, overrides = dict(HP), [], []
    while args:
        arg = args.pop(0)
        if arg == "--set":
            overrides.append(args.pop(0))
        elif arg == "--hp":
            key, raw = args.pop(0).split("=", 1)
            hp[key] = type(HP[key])(raw) if key in HP and not isinstance(HP[key], bool) else raw == "true" \
                if raw in ("true", "false") else float(raw) if "." in raw else raw
        else:
            rest.append(arg)
    return rest, hp, overrides


class EpochTimer:
    def __init__(self) -> None:
        import keras

        class Timer(keras.callbacks.Callback):
            def on_epoch_begin(inner, epoch, logs=None):  # noqa: N805
                inner.start = time.perf_counter(), time.process_time()

            def on_epoch_end(inner, epoch, logs=None):  # noqa: N805
                self.seconds.append(time.perf_counter() - inner.start[0])
                self.cpu_seconds.append(time.process_time() - inner.start[1])

        self.seconds: list[float] = []
        self.cpu_seconds: list[float] = []
        self.callback = Timer()


def throughput(data, hp: dict, batches: int, path: str, jit: bool, batch_size: int) -> tuple[float, float, bool]:
    """Images per wall second and per CPU second (all threads) of the second epoch, and whether XLA really
    compiled (Keras falls back when a layer cannot). CPU seconds suffer less from other processes."""
    from tuner.training.fit import batches as pipeline
    from tuner.training.fit import compile_model

    n = batches * batch_size
    x, y = data.x_train[:n], data.y_train[:n]
    hp = {**hp, "batch_size": batch_size, "jit_compile": jit}
    new_session(0)
    model = build_model(hp, data.input_shape, data.n_classes, data.pixel_mean)
    compile_model(model, hp, steps=2 * batches)
    timer = EpochTimer()
    if path == "arrays":
        model.fit(x, y, batch_size=batch_size, epochs=2, verbose=0, callbacks=[timer.callback])
    else:
        model.fit(pipeline(x, y, batch_size, shuffle=True), epochs=2, verbose=0, callbacks=[timer.callback])
    return n / timer.seconds[-1], n / timer.cpu_seconds[-1], bool(model.jit_compile)


def main(argv: list[str]) -> None:
    rest, hp, overrides = parse(list(argv))
    jit_only = len(rest) > 1 and rest[1] == "jit"  # Keras never XLA-compiles under op determinism: turn it off
    cfg = compose(["+experiment=fashion_cnn"] + (["device.deterministic=false"] if jit_only else []) + overrides)
    activate(cfg.device)
    data = load_dataset(cfg.data, cfg.seed)
    print(f"model: {hp}")
    if rest and rest[0] == "epochs":
        from tuner.training.fit import train

        epochs = int(rest[1]) if len(rest) > 1 else 3
        hp = {**hp, "epochs": epochs}
        new_session(0)
        model = build_model(hp, data.input_shape, data.n_classes, data.pixel_mean)
        start = [time.perf_counter(), time.process_time()]
        per_epoch = []

        def show(epoch, logs):
            now = [time.perf_counter(), time.process_time()]
            print(f"epoch {epoch + 1}/{epochs}: {now[0] - start[0]:.1f} s, {now[1] - start[1]:.1f} CPU-s (incl. "
                  f"validation), val_accuracy {logs['val_accuracy']:.4f}, accuracy {logs['accuracy']:.4f}", flush=True)
            per_epoch.append({"epoch": epoch + 1, "wall_s": round(now[0] - start[0], 1),
                              "cpu_s": round(now[1] - start[1], 1), "val_accuracy": round(logs["val_accuracy"], 4),
                              "accuracy": round(logs["accuracy"], 4)})
            start[:] = now

        result = train(model, hp, data, show)
        print(f"{len(data.x_train)} training images; {result.seconds / epochs:.1f} s per epoch on average; "
              f"final val_accuracy {result.final('val_accuracy'):.4f}")
        save_results("train_speed", {"mode": "epochs", "model": hp, "training_images": len(data.x_train),
                                     "mean_epoch_s": round(result.seconds / epochs, 1),
                                     "final_val_accuracy": round(result.final("val_accuracy"), 4),
                                     "epochs": per_epoch})
        return
    batches = int(rest[0]) if rest else 200
    print(f"{batches} batches per timed epoch; images per second of the second epoch, wall clock and "
          "CPU time of all threads (higher is better)")
    plain = {**hp, "augment_shift": 0.0}  # Keras' random image layers cannot be XLA-compiled
    what = rest[1] if len(rest) > 1 else "pipeline"
    runs = []
    if what == "pipeline":
        runs += [("arrays", False, 128, hp), ("tf.data", False, 128, hp)] * 2
    if what == "batch":
        runs += [("tf.data", False, 64, hp), ("tf.data", False, 128, hp), ("tf.data", False, 256, hp)]
    if what == "jit":
        print("jit runs: op determinism off (device.deterministic=false), no augmentation")
        runs += [("tf.data", False, 128, plain), ("tf.data", True, 128, plain)] * 2
    rows = []
    for path, jit, batch_size, model_hp in runs:
        rate, cpu_rate, compiled = throughput(data, model_hp, batches, path, jit, batch_size)
        print(f"{path:8s} augment_shift={model_hp['augment_shift']:<5} jit_compile={str(jit):5s} (XLA used: "
              f"{str(compiled):5s}) batch_size={batch_size:4d}: {rate:6.0f} images/s, {cpu_rate:6.0f} images "
              "per CPU-second", flush=True)
        rows.append({"input": path, "augment_shift": model_hp["augment_shift"], "jit_compile": jit, "xla_used": compiled,
                     "batch_size": batch_size, "images_per_s": round(rate), "images_per_cpu_s": round(cpu_rate)})
    save_results("train_speed", {"mode": what, "model": hp, "batches": batches, "runs": rows})


if __name__ == "__main__":
    main(sys.argv[1:])
