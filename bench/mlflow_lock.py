"""Several processes writing to one MLflow SQLite store: is it ever "database is locked"?

    .venv/bin/python bench/mlflow_lock.py [processes] [trials_per_process]

Each process plays a worker as fast as it can (far denser than real training): per trial it
creates a child run through tuner's Tracker, logs 10 epochs of metrics in one batch each,
and closes the run. Prints the calls that failed because the store was locked, and writes the figures to
bench/results/mlflow_lock-<date>-<time>.json.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import tempfile
import time

os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

from _common import save_results  # noqa: E402


def writer(uri: str, parent: str, trials: int, out: multiprocessing.Queue) -> None:
    from mlflow.exceptions import MlflowException

    from tuner.tracking.tracker import Tracker

    tracker = Tracker(uri, "lock-bench")
    locked = 0
    for number in range(trials):
        try:
            run = tracker.start_trial(parent, number, {"width": 8}, {})
            for epoch in range(10):
                tracker.log_epoch(run, epoch, {"loss": 1.0 / (epoch + 1), "val_accuracy": epoch / 10})
            tracker.end_trial(run, "COMPLETE", {"seconds": 1.0})
        except MlflowException as err:
            if "locked" not in str(err):
                raise
            locked += 1
    out.put(locked)


def main(processes: int, trials: int) -> None:
    from tuner.tracking.tracker import Tracker

    with tempfile.TemporaryDirectory(prefix="tuner-lock-") as tmp:
        uri = f"sqlite:///{tmp}/mlflow.db"
        parent = Tracker(uri, "lock-bench").open_parent(None, "study")
        ctx = multiprocessing.get_context("spawn")
        out = ctx.Queue()
        begin = time.perf_counter()
        procs = [ctx.Process(target=writer, args=(uri, parent, trials, out)) for _ in range(processes)]
        for p in procs:
            p.start()
        locked = sum(out.get() for _ in procs)
        for p in procs:
            p.join()
    calls = processes * trials * 12
    seconds = time.perf_counter() - begin
    print(f"{processes} processes x {trials} trials ({calls} write calls) in {seconds:.1f} s: "
          f"{locked} trials hit 'database is locked'")
    save_results("mlflow_lock", {"processes": processes, "trials_per_process": trials, "write_calls": calls,
                                 "seconds": round(seconds, 1), "locked_trials": locked})


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:]]
    main(*(args + [4, 30][len(args):]))
