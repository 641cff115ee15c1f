"""Per-trial overhead of a user's builder (model.builder) against tuner's built-in CNN of the same shape

The user's builder is ``bench/_cnn_builder.py``: tuner's CNN of ``MID_CNN``'s shape written as a user would,
to which ``model.builder`` adds tuner's input stage. Both ways build, compile and train the same 5-epoch
digits trial (same seed, same parameter count), alternating, ``repeats`` times each; the build alone is
timed apart (``builds`` times each).

    .venv/bin/python bench/user_builder.py [repeats] [builds]

Target (issue 20): no measurable per-trial overhead, i.e. the difference of the medians within the spread of
the built-in trials. The figures also go to bench/results/user_builder-<date>-<time>.json.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from typing import Any, Callable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from _common import MID_CNN, save_results  # noqa: E402

from tuner.models import UserBuilder, build_model, new_session  # noqa: E402
from tuner.training import train  # noqa: E402

HP = {**MID_CNN, "preprocess": "scale"}


def main(repeats: int, builds: int) -> None:
    from tuner.config import compose
    from tuner.data import load_dataset

    cfg = compose(["+experiment=digits_cnn"])  # the digits task as shipped (MNIST-5k)
    data = load_dataset(cfg.data, cfg.seed)
    ways: dict[str, Callable[..., Any]] = {"builtin": build_model, "user": UserBuilder("_cnn_builder.build")}
    params = {name: way(HP, data.input_shape, data.n_classes).count_params() for name, way in ways.items()}
    assert params["builtin"] == params["user"], f"not the same shape: {params}"

    def trial(way: Callable[..., Any]) -> tuple[float, float]:
        new_session(0)
        start = time.perf_counter()
        model = way(HP, data.input_shape, data.n_classes, data.pixel_mean)
        result = train(model, HP, data)
        return time.perf_counter() - start, result.final("val_accuracy")

    def build_ms(way: Callable[..., Any]) -> float:
        new_session(0)
        start = time.perf_counter()
        way(HP, data.input_shape, data.n_classes, data.pixel_mean)
        return 1000 * (time.perf_counter() - start)

    for way in ways.values():
        trial(way)  # warm-up: the first fit of a process traces and compiles more
    seconds: dict[str, list[float]] = {name: [] for name in ways}
    accuracy: dict[str, list[float]] = {name: [] for name in ways}
    for _ in range(repeats):
        for name, way in ways.items():
            s, acc = trial(way)
            seconds[name].append(s)
            accuracy[name].append(acc)
    building = {name: statistics.median(build_ms(way) for _ in range(builds)) for name, way in ways.items()}
    median = {name: statistics.median(values) for name, values in seconds.items()}
    spread = max(seconds["builtin"]) - min(seconds["builtin"])
    added = median["user"] - median["builtin"]
    print(f"5-epoch digits CNN trial ({params['builtin']:,} params), median of {repeats}: built-in "
          f"{median['builtin']:.2f} s, user builder {median['user']:.2f} s; difference {added:+.2f} s "
          f"({100 * added / median['builtin']:+.1f} %), spread of the built-in trials {spread:.2f} s")
    print(f"build alone, median of {builds}: built-in {building['builtin']:.0f} ms, user {building['user']:.0f} ms")
    print(f"final val_accuracy: built-in {accuracy['builtin']}, user {accuracy['user']}")
    save_results("user_builder", {
        "params": params["builtin"], "repeats": repeats, "builtin_trial_s": round(median["builtin"], 2),
        "user_trial_s": round(median["user"], 2), "difference_s": round(added, 2),
        "difference_pct": round(100 * added / median["builtin"], 1), "builtin_spread_s": round(spread, 2),
        "within_spread": abs(added) <= spread, "builds": builds, "builtin_build_ms": round(building["builtin"]),
        "user_build_ms": round(building["user"]),
        "builtin_trials_s": [round(v, 2) for v in seconds["builtin"]],
        "user_trials_s": [round(v, 2) for v in seconds["user"]],
        "builtin_val_accuracy": [round(a, 4) for a in accuracy["builtin"]],
        "user_val_accuracy": [round(a, 4) for a in accuracy["user"]]})


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3, int(sys.argv[2]) if len(sys.argv) > 2 else 20)
