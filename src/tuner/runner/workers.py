"""Worker processes on one machine: ``search.n_workers=k`` runs k of them on one study.

The launching process has already opened the study and its MLflow parent run; each
worker (started with ``spawn``: TensorFlow is not fork-safe) joins the study, loads the
data, sizes TensorFlow's thread pools to its share of the cores, and runs trials until
the study's budget is reached (``tuner.runner.coordinate`` keeps the count exact).

Example::

    run_workers(plan, parent_id, study, tracker)  # blocks until all are done
"""

from __future__ import annotations

import atexit
import logging
import multiprocessing
import multiprocessing.connection
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from typing import Any

import optuna

from tuner.config import hide_passwords_in_logs
from tuner.errors import TunerError
from tuner.runner.coordinate import reap
from tuner.runner.plan import Plan
from tuner.study import finished_count
from tuner.tracking import Tracker

log = logging.getLogger(__name__)
EXIT_INTERRUPTED, EXIT_ERROR, EXIT_RECYCLE, EXIT_BUG = 130, 2, 3, 1
JOIN_AFTER_SIGNAL_S = 120.0


def cpu_count() -> int:
    """The cores this process may use."""
    return len(os.sched_getaffinity(0))


def threads_per_worker(n_workers: int) -> int:
    """Each worker's share of the cores, so that k workers do not oversubscribe them."""
    return max(1, cpu_count() // n_workers)


def run_workers(plan: Plan, parent_id: str, study: optuna.Study, tracker: Tracker) -> None:
    """Run ``search.n_workers`` worker processes until the study's budget is reached.

    A worker that ran ``search.trials_per_worker`` trials exits and a fresh one takes its
    place, which bounds the memory a long run can gather. A worker killed by a signal it could
    not handle (SIGKILL, the kernel's OOM killer, a crash) has its trial failed and its run
    KILLED here at once, and a fresh one takes its place too, unless ``search.max_failures``
    workers in a row died that way with no trial finishing in between. Ctrl-C reaches the workers
    directly; SIGTERM to this process is passed on to them. A worker that stops with an error
    stops the others at once; then this raises TunerError. Each worker's temporary files live in
    a folder of its own under ``TMPDIR``, removed when it ends, however it ends.
    """
    deadline = time.time() + plan.search.timeout if plan.search.timeout else None
    context = multiprocessing.get_context("spawn")
    started = 0
    folders: dict[int, str] = {}

    def start(slot: int) -> Any:
        nonlocal started
        tmp = tempfile.mkdtemp(prefix=f"tuner-worker-{slot}-")
        proc = context.Process(target=worker_main, name=f"tuner-worker-{slot}",
                               args=(plan, slot, started, parent_id, _log_file(), deadline, tmp))
        proc.start()
        folders[slot] = tmp
        started += 1
        return proc

    running = {slot: start(slot) for slot in range(plan.search.n_workers)}
    failed: list[str] = []
    deaths = _Deaths(study, plan.search.max_failures)
    try:
        while running:
            multiprocessing.connection.wait([p.sentinel for p in running.values()])
            for slot, proc in list(running.items()):
                if proc.exitcode is None:
                    continue
                del running[slot]
                shutil.rmtree(folders.pop(slot), ignore_errors=True)
                if proc.exitcode == EXIT_RECYCLE:
                    if deadline is None or time.time() < deadline:
                        running[slot] = start(slot)
                elif proc.exitcode < 0:
                    verdict = deaths.died(slot, proc.pid, -proc.exitcode, tracker)
                    if verdict:
                        failed.append(verdict)
                    elif (deadline is None or time.time() < deadline) and finished_count(study) < plan.search.n_trials:
                        running[slot] = start(slot)
                elif proc.exitcode:
                    failed.append(f"worker {slot} exited with code {proc.exitcode}")
            if failed and running:
                log.error("%s: stopping the other workers", "; ".join(failed))
                _stop(running)
                for slot in running:
                    shutil.rmtree(folders.pop(slot), ignore_errors=True)
                running = {}
    except KeyboardInterrupt:
        _stop(running)
        raise
    finally:
        for tmp in folders.values():
            shutil.rmtree(tmp, ignore_errors=True)
    if failed:
        raise TunerError(f"{'; '.join(failed)}: see its error above (the study is kept; rerun to resume)")


class _Deaths:
    """Workers killed by a signal, counted in a row: the count starts again once a trial has finished since."""

    def __init__(self, study: optuna.Study, limit: int) -> None:
        self.study, self.limit, self.in_a_row = study, limit, 0
        self.finished = finished_count(study)

    def died(self, slot: int, pid: int | None, signum: int, tracker: Tracker) -> str | None:
        """Fail the dead worker's trial and kill its run; a reason to stop the run, or None to replace it."""
        finished = finished_count(self.study)
        self.in_a_row = 1 if finished > self.finished else self.in_a_row + 1
        self.finished = finished
        reaped = reap(self.study, tracker)
        name = _signal_name(signum)
        if self.in_a_row >= self.limit:
            return (f"worker {slot} (pid {pid}) was killed by {name}: {self.in_a_row} workers in a row died with no "
                    f"trial finishing (search.max_failures={self.limit}); look for what kills them (the kernel's OOM "
                    "killer logs to dmesg)")
        log.warning("worker %d (pid %s) was killed by %s: %s; a fresh worker takes its place", slot, pid, name,
                    f"trial {', '.join(map(str, reaped))} marked FAIL, its run KILLED" if reaped
                    else "no running trial of its was left to fail")
        return None


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def _stop(running: dict[int, Any]) -> None:
    """SIGTERM every running worker (its trial FAILs, its run is KILLED) and wait for them to end."""
    for proc in running.values():
        if proc.is_alive() and proc.pid is not None:
            os.kill(proc.pid, signal.SIGTERM)
    end = time.monotonic() + JOIN_AFTER_SIGNAL_S
    for proc in running.values():
        proc.join(max(0.0, end - time.monotonic()))


def worker_main(plan: Plan, slot: int, spawn: int, parent_id: str, log_file: str | None = None,
                deadline: float | None = None, tmp: str | None = None) -> None:
    """One worker process in ``slot`` (0..n_workers-1), the ``spawn``-th started in this run, its temporary
    files (its own, MLflow's, TensorFlow's) in folder ``tmp``, which the launcher removes when it ends (and this
    worker too when it exits, for a launcher that died first).

    Joins the study and runs trials until the budget is reached (exit 0) or it ran
    ``search.trials_per_worker`` trials (exit EXIT_RECYCLE: start a fresh one).
    """
    if tmp is not None:
        os.environ["TMPDIR"] = tempfile.tempdir = tmp
        atexit.register(shutil.rmtree, tmp, ignore_errors=True)
    n_workers = plan.search.n_workers
    _before_backend(plan, slot, n_workers)
    _setup_logging(slot, log_file)
    _exit_with_parent()
    try:
        recycle = _run(plan, slot, spawn, parent_id, deadline)
    except TunerError as err:
        log.error("%s", err)
        sys.exit(EXIT_ERROR)
    except KeyboardInterrupt:
        log.warning("worker %d interrupted: its trial is FAIL and its run KILLED", slot)
        sys.exit(EXIT_INTERRUPTED)
    except Exception:
        log.exception("worker %d stopped by an error in tuner's own code (please report it)", slot)
        sys.exit(EXIT_BUG)
    sys.exit(EXIT_RECYCLE if recycle else 0)


def _before_backend(plan: Plan, slot: int, n_workers: int) -> None:
    """What must be set before Keras' backend loads in the worker of ``slot``: the backend, its GPU (slot mod
    the number of GPUs, ``CUDA_VISIBLE_DEVICES``, with its memory share) and thread pools sized to its share
    of the cores."""
    from tuner.training.device import configure, load_backend

    configure(plan.device, slot, n_workers)  # first: loading the backend loads Keras (and may load JAX)
    load_backend(plan.backend)
    threads = str(threads_per_worker(n_workers))
    for var in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS"):
        os.environ[var] = threads


def set_threads(threads: int) -> str:
    """Size the backend's CPU thread pools to ``threads``; says what it set, for the log."""
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
        return (f"{tf.config.threading.get_intra_op_parallelism_threads()}+"
                f"{tf.config.threading.get_inter_op_parallelism_threads()} TensorFlow threads (intra+inter op)")
    if backend == "torch":
        import torch

        torch.set_num_threads(threads)
        return f"{torch.get_num_threads()} PyTorch threads"
    return f"JAX (XLA sizes its own CPU threads; OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')})"


def _run(plan: Plan, slot: int, spawn: int, parent_id: str, deadline: float | None) -> bool:
    import gc

    from tuner.data import load_dataset
    from tuner.runner.coordinate import interrupts_once
    from tuner.runner.objective import Context
    from tuner.runner.optimize import open_tracked, optimize, prepare

    threads = set_threads(threads_per_worker(plan.search.n_workers))
    plan = plan.for_worker(spawn, max(deadline - time.time(), 1.0) if deadline is not None else None)
    with interrupts_once():
        prepared = prepare(plan)
        data = load_dataset(plan.data, plan.seed)
        study, _, tracker = open_tracked(plan, prepared, data)  # every worker checks the data it loaded
        ctx = Context(plan, prepared.space, data, tracker, parent_id, builder=prepared.builder)
        gc.freeze()
        log.info("worker %d (pid %d) joins study %s with %s", slot, os.getpid(), plan.study.name, threads)
        alone = plan.search.n_workers == 1  # the run's only worker draws its progress bar, as a run without workers does
        try:
            return optimize(study, ctx, progress=alone, max_trials=plan.search.trials_per_worker)
        finally:
            tracker.finish(plan.tracking.flush_timeout)


def _setup_logging(slot: int, log_file: str | None) -> None:
    fmt = logging.Formatter(f"[%(asctime)s][%(name)s][%(levelname)s][worker {slot}] - %(message)s")
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    if log_file:
        handlers.append(logging.FileHandler(log_file))
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    for handler in handlers:
        handler.setFormatter(fmt)
        root.addHandler(handler)
    hide_passwords_in_logs(root)


def _log_file() -> str | None:
    """The log file of this invocation (Hydra's), which the workers append to."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler):
            return handler.baseFilename
    return None


def _exit_with_parent() -> None:
    """If the launching process dies (even by SIGKILL), interrupt this worker cleanly."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="tuner-parent-watch", daemon=True).start()
