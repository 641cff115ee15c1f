"""Worker processes on one machine: ``search.n_workers=k`` runs k of them on one study.

The launching process has already opened the study and its MLflow parent run; each
worker (started with ``spawn``: TensorFlow is not fork-safe) joins the study, loads the
data, sizes TensorFlow's thread pools to its share of the cores, and runs trials until
the study's budget is reached (``tuner.coordinate`` keeps the count exact).

Example::

    run_workers(cfg, parent_id, overrides=["+experiment=digits_cnn"])  # blocks until all are done
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from typing import Any

from omegaconf import DictConfig, OmegaConf

from tuner.errors import TunerError

log = logging.getLogger(__name__)
EXIT_INTERRUPTED, EXIT_ERROR = 130, 2
JOIN_AFTER_SIGNAL_S = 120.0


def cpu_count() -> int:
    """The cores this process may use."""
    return len(os.sched_getaffinity(0))


def threads_per_worker(n_workers: int) -> int:
    """Each worker's share of the cores, so that k workers do not oversubscribe them."""
    return max(1, cpu_count() // n_workers)


def run_workers(cfg: DictConfig, parent_id: str, overrides: list[str]) -> None:
    """Start ``search.n_workers`` worker processes and wait for them all.

    Ctrl-C reaches the workers directly; SIGTERM to this process is passed on to them.
    Raises TunerError when a worker stops with an error.
    """
    plain = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(plain, dict)
    plain.pop("hydra", None)
    context = multiprocessing.get_context("spawn")
    procs = [context.Process(target=worker_main, args=(plain, i, parent_id, overrides, _log_file()),
                             name=f"tuner-worker-{i}") for i in range(cfg.search.n_workers)]
    for proc in procs:
        proc.start()
    try:
        for proc in procs:
            proc.join()
    except KeyboardInterrupt:
        for proc in procs:
            if proc.is_alive() and proc.pid is not None:
                os.kill(proc.pid, signal.SIGTERM)
        end = time.monotonic() + JOIN_AFTER_SIGNAL_S
        for proc in procs:
            proc.join(max(0.0, end - time.monotonic()))
        raise
    failed = [f"worker {i} exited with code {p.exitcode}" for i, p in enumerate(procs) if p.exitcode]
    if failed:
        raise TunerError(f"{'; '.join(failed)}: see its error above (the study is kept; rerun to resume)")


def worker_main(plain_cfg: dict[str, Any], index: int, parent_id: str, overrides: list[str],
                log_file: str | None = None) -> None:
    """One worker process: join the study and run trials until the budget is reached; exits with its status."""
    n_workers = int(plain_cfg["search"]["n_workers"])
    _before_tensorflow(index, n_workers)
    _setup_logging(index, log_file)
    _exit_with_parent()
    try:
        _run(OmegaConf.create(plain_cfg), index, parent_id, overrides)
    except TunerError as err:
        log.error("%s", err)
        sys.exit(EXIT_ERROR)
    except KeyboardInterrupt:
        log.warning("worker %d interrupted: its trial is FAIL and its run KILLED", index)
        sys.exit(EXIT_INTERRUPTED)


def _before_tensorflow(index: int, n_workers: int) -> None:
    """What must be set before TensorFlow loads in worker ``index``.

    Thread pools sized to this worker's share of the cores. GPU selection
    (``CUDA_VISIBLE_DEVICES`` per worker) belongs here too.
    """
    threads = str(threads_per_worker(n_workers))
    for var in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS"):
        os.environ[var] = threads


def _run(cfg: DictConfig, index: int, parent_id: str, overrides: list[str]) -> None:
    import gc

    import optuna
    import tensorflow as tf

    from tuner.coordinate import interrupts_once, stale_callback
    from tuner.data import load_dataset
    from tuner.run import Context, _optimize, prepare
    from tuner.study import join_study
    from tuner.track import Tracker

    threads = threads_per_worker(cfg.search.n_workers)
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
    if cfg.sampler.get("seed") is not None:
        cfg.sampler.seed = int(cfg.sampler.seed) + index  # workers must not draw the same "random" trials
    with interrupts_once():
        space, sampler, pruner = prepare(cfg)
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study, _ = join_study(cfg, sampler, pruner, on_stale=stale_callback(cfg.tracking.uri, cfg.name))
        tracker = Tracker(cfg.tracking.uri, cfg.name)
        ctx = Context(cfg, space, load_dataset(cfg.data, cfg.seed), tracker, parent_id, overrides)
        gc.freeze()
        log.info("worker %d (pid %d) joins study %s with %d+%d TensorFlow threads (intra+inter op)", index,
                 os.getpid(), cfg.name, tf.config.threading.get_intra_op_parallelism_threads(),
                 tf.config.threading.get_inter_op_parallelism_threads())
        _optimize(study, ctx, progress=False)


def _setup_logging(index: int, log_file: str | None) -> None:
    fmt = logging.Formatter(f"[%(asctime)s][%(name)s][%(levelname)s][worker {index}] - %(message)s")
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    if log_file:
        handlers.append(logging.FileHandler(log_file))
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    for handler in handlers:
        handler.setFormatter(fmt)
        root.addHandler(handler)


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
