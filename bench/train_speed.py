"""Training speed on this machine's CPU: images per second of `model.fit`, by input path, batch size, XLA or backend.

For one CNN: NumPy arrays handed to Keras (as before issue 6) or tuner's tf.data pipeline, batch sizes, XLA;
or the Fashion and digits CNNs on each Keras backend.

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

    .venv/bin/python bench/train_speed.py <batches> backends [--repeats 2] [--backends tensorflow,jax,torch]

compares Keras' backends on this CPU: for each backend a child process (Keras picks its backend once per
process) fits the Fashion CNN above (on the fashion_cnn experiment's data; --hp and --set apply to it)
and the digits CNN (bench/_common.MID_CNN, a middle-of-the-space trial of conf/search/space/cnn.yaml, on
digits_cnn's embedded MNIST-5k) for two epochs of `batches` batches through tuner's own pipeline
(tuner.training.fit.batches) and times the second. Each child calls tuner.training.device.activate with
the experiment's device config, as a study does (so determinism is on, per backend), and leaves
jit_compile to Keras ("auto", as a study does: XLA on jax). The rounds interleave the backends, each
round one child per backend, so that a change in the machine's load hits them alike; every measurement
is kept with the 1-minute load average before it. A child that fails (a backend not installed) records
its error and the others go on.

Either way the figures also go to bench/results/train_speed-<date>-<time>.json.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

if __package__:  # imported as bench.train_speed (the tests)
    from bench._common import MID_CNN, save_results
else:  # python bench/train_speed.py
    from _common import MID_CNN, save_results

from tuner.config import BACKENDS, compose  # noqa: E402
from tuner.data import load_dataset  # noqa: E402
from tuner.training.device import activate, configure  # noqa: E402

# Keras is imported on first use (tuner.models.builder loads it): the backends mode's parent never loads it,
# and each child picks its backend before it does.

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


def throughput(data, hp: dict, batches: int, path: str, jit: bool | None, batch_size: int) -> tuple[float, float, bool]:
    """Images per wall second and per CPU second (all threads) of the second epoch, and whether XLA really
    compiled (Keras falls back when a layer cannot). CPU seconds suffer less from other processes.
    ``jit=None`` leaves XLA to Keras ("auto"), as a study does."""
    from tuner.models.builder import build_model, new_session
    from tuner.training.fit import batches as pipeline
    from tuner.training.fit import compile_model

    n = batches * batch_size
    if n > len(data.x_train):
        raise ValueError(f"{batches} batches of {batch_size} need {n} training images; the data has "
                         f"{len(data.x_train)}: ask for at most {len(data.x_train) // batch_size} batches")
    x, y = data.x_train[:n], data.y_train[:n]
    hp = {**hp, "batch_size": batch_size} if jit is None else {**hp, "batch_size": batch_size, "jit_compile": jit}
    new_session(0)
    model = build_model(hp, data.input_shape, data.n_classes, data.pixel_mean)
    compile_model(model, hp, steps=2 * batches)
    timer = EpochTimer()
    if path == "arrays":
        model.fit(x, y, batch_size=batch_size, epochs=2, verbose=0, callbacks=[timer.callback])
    else:
        model.fit(pipeline(x, y, batch_size, shuffle=True), epochs=2, verbose=0, callbacks=[timer.callback])
    return n / timer.seconds[-1], n / timer.cpu_seconds[-1], bool(model.jit_compile)

# --- backends mode: one child process per backend and round ---------------------------------------------

CHILD = "_backend_child"  # the hidden sub-mode a child runs: _backend_child <backend> <batches> <out.json>
CHILD_TIMEOUT_S = 1200  # one child fits both models twice; past this it counts as failed
REPEATS = 2
# model -> (experiment its data and device config come from, how to read its hyperparameters)
MODELS = {"fashion_cnn": "fashion_cnn", "digits_cnn": "digits_cnn"}
PACKAGES = ("keras", "tensorflow", "jax", "torch")


def _error_text(exc: BaseException) -> str:
    """One line for the table (the exception as Python prints its last line), at most 300 characters."""
    line = traceback.format_exception_only(type(exc), exc)[-1].strip()
    return line if len(line) <= 300 else line[:297] + "..."


def child(backend: str, batches: int, out: Path, hp: dict, overrides: list[str]) -> None:
    """Measure both models on ``backend`` in this process; write one row per model to ``out`` (JSON)."""
    rows: list[dict] = []
    try:
        from tuner.config import use_backend

        use_backend(backend)  # before Keras loads; a ConfigError naming the extra when it is not installed
        configure(compose(["+experiment=fashion_cnn", f"backend={backend}"]).device)  # before Keras, as a worker
        import keras

        models = {"fashion_cnn": (["+experiment=fashion_cnn", *overrides], hp),
                  "digits_cnn": (["+experiment=digits_cnn"], {k: v for k, v in MID_CNN.items() if k != "epochs"})}
        for model, (experiment, model_hp) in models.items():
            row = {"backend": backend, "model": model, "load_1min": round(os.getloadavg()[0], 2)}
            try:
                cfg = compose([*experiment, f"backend={backend}"])
                activate(cfg.device)  # dtype policy and determinism for this backend, as a study does
                data = load_dataset(cfg.data, cfg.seed)
                row["load_1min"] = round(os.getloadavg()[0], 2)  # just before the fit: data loading took a while
                rate, cpu_rate, compiled = throughput(data, {**model_hp, "epochs": 2}, batches, "tuner", None,
                                                      int(model_hp["batch_size"]))
                row.update(images_per_s=round(rate), images_per_cpu_s=round(cpu_rate), xla_used=compiled,
                           deterministic=bool(cfg.device.deterministic))
            except Exception as exc:  # noqa: BLE001 - recorded; the other model still runs
                traceback.print_exc()
                row["error"] = _error_text(exc)
            rows.append(row)
        version = {"keras": keras.__version__, backend: importlib.metadata.version(BACKENDS[backend])}
    except Exception as exc:  # noqa: BLE001 - the whole child failed (the backend would not load)
        traceback.print_exc()
        rows = [{"backend": backend, "model": m, "error": _error_text(exc)} for m in MODELS if
                m not in {r["model"] for r in rows}] + rows
        version = {}
    out.write_text(json.dumps({"rows": rows, "versions": version}))


def run_child(backend: str, batches: int, passthrough: list[str], repeat: int) -> list[dict]:
    """Run one child on ``backend`` (``KERAS_BACKEND`` set); its rows, or one error row per model if it died."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "rows.json"
        env = {**os.environ, "KERAS_BACKEND": backend}
        command = [sys.executable, str(Path(__file__).resolve()), CHILD, backend, str(batches), str(out),
                   *passthrough]
        load = round(os.getloadavg()[0], 2)
        try:
            done = subprocess.run(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                  timeout=CHILD_TIMEOUT_S, check=False)
            output, failure = done.stdout, None if done.returncode == 0 else f"exit status {done.returncode}"
        except subprocess.TimeoutExpired as exc:
            output = exc.stdout.decode() if isinstance(exc.stdout, bytes) else exc.stdout or ""
            failure = f"timed out after {CHILD_TIMEOUT_S} s"
        result = json.loads(out.read_text()) if out.exists() else None
    if result is None:  # it died before writing its rows: the last line it printed says why
        last = next((line.strip() for line in reversed(output.splitlines()) if line.strip()), "")
        print(output[-3000:], file=sys.stderr)
        result = {"rows": [{"backend": backend, "model": m, "load_1min": load,
                            "error": f"{failure or 'no result'}: {last}"[:300]} for m in MODELS], "versions": {}}
    elif any("error" in row for row in result["rows"]):
        print(output[-3000:], file=sys.stderr)
    return [{"repeat": repeat, **row} for row in result["rows"]]


def summarise(runs: list[dict], backends: list[str]) -> tuple[list[dict], dict, dict]:
    """Per model and backend, the better of its repeats (other processes only ever slow a run down), with
    its ratio to TensorFlow's; and per model the backend fastest in wall images/s, with that ratio."""
    summary, fastest, fastest_ratio = [], {}, {}
    for model in MODELS:
        best = {}
        for backend in backends:
            ok = [r for r in runs if r["model"] == model and r["backend"] == backend and "error" not in r]
            best[backend] = (max(r["images_per_s"] for r in ok), max(r["images_per_cpu_s"] for r in ok)) if ok \
                else None
        base = best.get("tensorflow")
        for backend in backends:
            row = {"model": model, "backend": backend, "images_per_s": None, "images_per_cpu_s": None,
                   "ratio_to_tensorflow": None, "cpu_s_ratio_to_tensorflow": None}
            if best[backend] is not None:
                row.update(images_per_s=best[backend][0], images_per_cpu_s=best[backend][1])
                if base is not None:
                    row.update(ratio_to_tensorflow=round(best[backend][0] / base[0], 2),
                               cpu_s_ratio_to_tensorflow=round(best[backend][1] / base[1], 2))
            else:
                row["error"] = next(r["error"] for r in runs if r["model"] == model and r["backend"] == backend)
            summary.append(row)
        measured = {b: v for b, v in best.items() if v is not None}
        if measured:
            winner = max(measured, key=lambda b: measured[b][0])
            fastest[model] = winner
            fastest_ratio[model] = round(measured[winner][0] / base[0], 2) if base is not None else None
    return summary, fastest, fastest_ratio


def option(rest: list[str], name: str, default: str) -> str:
    """The value after ``name`` in ``rest`` (both removed), else ``default``."""
    if name not in rest:
        return default
    at = rest.index(name)
    if at + 1 >= len(rest):
        raise SystemExit(f"{name} needs a value")
    value = rest[at + 1]
    del rest[at:at + 2]
    return value


def backends_mode(argv: list[str], rest: list[str], hp: dict, overrides: list[str]) -> None:
    rest = list(rest)
    repeats_text = option(rest, "--repeats", str(REPEATS))
    backends = option(rest, "--backends", ",".join(BACKENDS)).split(",")
    if not rest[0].isdigit() or int(rest[0]) < 1:
        raise SystemExit(f"batches={rest[0]!r}: give a whole number of batches per timed epoch, at least 1")
    if not repeats_text.isdigit() or int(repeats_text) < 1:
        raise SystemExit(f"--repeats {repeats_text}: give a whole number, at least 1")
    unknown = [b for b in backends if b not in BACKENDS]
    if unknown or len(set(backends)) != len(backends):
        raise SystemExit(f"--backends {','.join(backends)}: name each of {', '.join(BACKENDS)} at most once")
    if rest[2:]:
        raise SystemExit(f"backends mode: unexpected arguments {' '.join(rest[2:])}")
    batches, repeats = int(rest[0]), int(repeats_text)
    passthrough = [a for i, a in enumerate(argv) if a in ("--hp", "--set") or (i and argv[i - 1] in ("--hp", "--set"))]
    print(f"{batches} batches per timed epoch, {repeats} rounds of one child process per backend "
          f"({', '.join(backends)}); images per second of the second epoch of model.fit over "
          "tuner.training.fit.batches, wall clock and CPU time of all threads (higher is better).\n"
          "Each child calls tuner.training.device.activate(cfg.device) with its experiment's device config, "
          "as a study does: determinism on (TensorFlow op determinism, torch deterministic algorithms, "
          "nothing to set for jax on a CPU); jit_compile left to Keras.", flush=True)
    runs = []
    for repeat in range(1, repeats + 1):
        for backend in backends:
            for row in run_child(backend, batches, passthrough, repeat):
                runs.append(row)
                what = f"{row['images_per_s']:6d} images/s, {row['images_per_cpu_s']:6d} per CPU-second, " \
                       f"XLA used: {row['xla_used']}" if "error" not in row else f"FAILED: {row['error']}"
                print(f"round {repeat} {backend:10s} {row['model']:11s} (load {row.get('load_1min')}): {what}",
                      flush=True)
    summary, fastest, fastest_ratio = summarise(runs, backends)
    print(f"\n{'model':11s} {'backend':10s} {'images/s':>9s} {'per CPU-s':>9s} {'vs TF':>6s} {'vs TF CPU-s':>11s}"
          "   (the better of the rounds)")
    for row in summary:
        ratio, cpu_ratio = row["ratio_to_tensorflow"], row["cpu_s_ratio_to_tensorflow"]
        print(f"{row['model']:11s} {row['backend']:10s} {row['images_per_s'] or '-':>9} "
              f"{row['images_per_cpu_s'] or '-':>9} {ratio or '-':>6} {cpu_ratio or '-':>11}"
              + (f"   {row['error']}" if "error" in row else ""))
    for model, winner in fastest.items():
        print(f"fastest on {model}: {winner}" + (f", {fastest_ratio[model]} times TensorFlow's images/s"
                                                 if fastest_ratio[model] is not None else ""))
    versions = {}
    for package in PACKAGES:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = None
    fashion = {**hp, "epochs": 2}
    save_results("train_speed", {
        "mode": "backends", "batches": batches, "repeats": repeats, "backends": backends,
        "images_per_epoch": {"fashion_cnn": batches * int(fashion["batch_size"]),
                             "digits_cnn": batches * int(MID_CNN["batch_size"])},
        "summary_rule": "per backend the better of its rounds; ratio: its images/s over TensorFlow's",
        "determinism": "each child calls tuner.training.device.activate(cfg.device), deterministic=true, as a study",
        "fastest": fastest, "fastest_ratio_to_tensorflow": fastest_ratio, "versions": versions,
        "models": {"fashion_cnn": {"experiment": "fashion_cnn", "overrides": overrides, "hp": fashion},
                   "digits_cnn": {"experiment": "digits_cnn", "hp": {**MID_CNN, "epochs": 2}}},
        "summary": summary, "runs": runs})


def main(argv: list[str]) -> None:
    rest, hp, overrides = parse(list(argv))
    if rest and rest[0] == CHILD:
        child(rest[1], int(rest[2]), Path(rest[3]), hp, overrides)
        return
    if len(rest) > 1 and rest[1] == "backends":
        backends_mode(argv, rest, hp, overrides)
        return
    jit_only = len(rest) > 1 and rest[1] == "jit"  # Keras never XLA-compiles under op determinism: turn it off
    cfg = compose(["+experiment=fashion_cnn"] + (["device.deterministic=false"] if jit_only else []) + overrides)
    activate(cfg.device)
    data = load_dataset(cfg.data, cfg.seed)
    print(f"model: {hp}")
    if rest and rest[0] == "epochs":
        from tuner.models.builder import build_model, new_session
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
