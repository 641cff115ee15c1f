"""Workers sharing one study: who owns a trial, reaping dead workers' trials, agreeing
on the budget and on the one MLflow parent run. Works the same for worker processes
on one machine and for invocations on many machines (RDB storage, MLflow server).

A trial records its owner (host, pid, process start time) as user attributes. A RUNNING
trial whose owner is gone is failed and its MLflow run closed KILLED: on this host by
checking the process, on other hosts by the RDB storage's heartbeat.

Example::

    reap(study, tracker)                       # after a crash: FAIL + KILLED
    if wait_for_slot(study, budget=20):        # False once 20 trials are finished
        ...run one more trial...
"""

from __future__ import annotations

import _thread
import logging
import os
import signal
import socket
import sys
import threading
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from types import FrameType
from typing import Any, Callable, Iterator

import optuna
from optuna.trial import FrozenTrial, TrialState

from tuner._compat.optuna import fail_trial, heartbeat_enabled
from tuner.study import FINISHED, StaleCallback
from tuner.study.records import (
    FAIL_REASON,
    MLFLOW_RUN_ID,
    PARENT_RUN_ID,
    SURPLUS,
    WORKER_HOST,
    WORKER_PID,
    WORKER_RSS_MB,
    WORKER_STARTED,
)
from tuner.tracking import Tracker

log = logging.getLogger(__name__)
POLL_S = 0.5
PARENT_WAIT_S = 60.0
ORPHAN_S = 60.0
RETRY_S = 0.1  # an interrupt lost on its way is raised again this often


def process_start(pid: int) -> str | None:
    """When process ``pid`` started (clock ticks since boot), or None if it is gone or a zombie."""
    try:
        stat = open(f"/proc/{pid}/stat").read()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return None if fields[0] in ("Z", "X") else fields[19]


def rss_mb() -> float:
    """This process's resident memory in MiB."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def mark_owner(trial: optuna.trial.Trial) -> None:
    """Record this process as the owner of ``trial``, and its resident memory as the trial starts.

    Each attribute is its own write, and another worker may read the trial between two of them:
    the pid goes last, so a reader that sees it sees the host and the start time too.
    """
    trial.set_user_attr(WORKER_RSS_MB, round(rss_mb(), 1))
    trial.set_user_attr(WORKER_HOST, socket.gethostname())
    trial.set_user_attr(WORKER_STARTED, process_start(os.getpid()))
    trial.set_user_attr(WORKER_PID, os.getpid())


def owner_dead(trial: FrozenTrial) -> bool:
    """True for a trial owned by a process of this host that no longer runs, or by no one.

    A worker records itself as the first thing a trial does; a trial without an owner for
    ORPHAN_S was started by a process that died at once (or by a tuner before owners were kept).
    An owner only partly recorded (its writes are still on their way) counts as no owner yet.
    """
    attrs = trial.user_attrs
    if WORKER_PID not in attrs or WORKER_STARTED not in attrs:
        started = trial.datetime_start or datetime.now()
        return (datetime.now() - started).total_seconds() > ORPHAN_S
    if attrs.get(WORKER_HOST) != socket.gethostname():
        return False
    return process_start(int(attrs[WORKER_PID])) != attrs.get(WORKER_STARTED)


def kill_run(tracker: Tracker | None, trial: FrozenTrial | optuna.trial.Trial, reason: str,
             closed_too: bool = False) -> None:
    """Close the MLflow run of a trial whose worker died (``closed_too``: even one already closed)."""
    run_id = trial.user_attrs.get(MLFLOW_RUN_ID)
    if tracker is not None and run_id:
        tracker.kill_trial(str(run_id), reason, closed_too)


def reap(study: optuna.Study, tracker: Tracker | None) -> list[int]:
    """FAIL every RUNNING trial whose worker is dead, closing its run KILLED; returns their numbers."""
    from optuna.storages import fail_stale_trials

    if heartbeat_enabled(study):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            fail_stale_trials(study)  # other hosts: the storage's callback closes their runs
    reaped = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if not owner_dead(trial):
            continue
        attrs = trial.user_attrs
        reason = (f"interrupted: worker pid {attrs[WORKER_PID]} on {attrs[WORKER_HOST]} died" if WORKER_PID in attrs
                  else "interrupted: its worker died before it recorded itself")
        if not fail_trial(study, trial, reason, FAIL_REASON):
            continue  # another worker reaped it first
        log.warning("trial %d marked FAIL (%s)", trial.number, reason)
        _kill_or_record_run(study, tracker, trial, reason)
        reaped.append(trial.number)
    return reaped


def _kill_or_record_run(study: optuna.Study, tracker: Tracker | None, trial: FrozenTrial, reason: str) -> None:
    """Close KILLED the run of a trial whose worker died: the one it recorded (even if its worker had closed it
    already, dying before Optuna heard of the outcome), else the one it created but did not record yet, else
    (it died before it created one) a new one, so that every trial keeps its one run."""
    if tracker is None or trial.user_attrs.get(SURPLUS):  # a surplus trial opens no run
        return
    if trial.user_attrs.get(MLFLOW_RUN_ID):
        kill_run(tracker, trial, reason, closed_too=True)
        return
    parent_id = study.user_attrs.get(PARENT_RUN_ID)
    if parent_id is not None:
        tracker.record_killed(parent_id, trial.number, trial.params, reason)


def sweep_runs(study: optuna.Study, tracker: Tracker, parent_id: str) -> None:
    """Close KILLED the RUNNING child runs whose trial is not running (an interrupt or crash
    between creating a run and recording it in the trial)."""
    running = {str(t.number) for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))}
    tracker.sweep(parent_id, running, "interrupted: its trial is no longer running")


def stale_callback(uri: str, experiment: str) -> StaleCallback:
    """For the RDB heartbeat: close the MLflow run of a trial failed for lack of heartbeat."""

    def on_stale(study: optuna.Study, trial: FrozenTrial) -> None:
        kill_run(Tracker(uri, experiment), trial, "interrupted: its worker stopped sending heartbeats")

    return on_stale


def wait_for_slot(study: optuna.Study, budget: int, tracker: Tracker | None, number: int | None = None,
                  deadline: float | None = None) -> bool:
    """Whether one more trial (trial ``number``, or a new one) fits the budget; False once it is reached.

    Finished trials plus the trials running ahead of this one must stay under ``budget``.
    While that is not so but other trials still run, wait: one of them may yet fail and free
    a slot. Trials are ordered by number, so workers that ask at the same moment agree.
    """
    waiting = False
    while True:
        reap(study, tracker)
        trials = study.get_trials(deepcopy=False)
        finished = sum(t.state in FINISHED for t in trials)
        ahead = sum(t.state == TrialState.RUNNING and (number is None or t.number < number) for t in trials)
        if finished >= budget or (deadline is not None and time.monotonic() >= deadline):
            return False
        if finished + ahead < budget:
            return True
        if not waiting:
            log.info("%d trials finished and %d running fill search.n_trials=%d: waiting for them to end",
                     finished, ahead, budget)
            waiting = True
        time.sleep(POLL_S)


def guard_slot(objective: Callable[[optuna.trial.Trial], Any], budget: int, tracker: Tracker | None,
               deadline: float | None = None) -> Callable[[optuna.trial.Trial], Any]:
    """Wrap ``objective``: mark the trial's owner, then run it only if its slot is within budget.

    Two workers that started trials at the same moment when one slot was left: the later
    number fails at once as ``surplus`` (no MLflow run) and stops its worker.

    A trial that fails with another error after a signal came was interrupted: inside TensorFlow
    the interrupt can come out as a TypeError, SystemError or RuntimeError (see ``interrupts_once``).
    """
    from tuner.errors import TrialFailed

    def guarded(trial: optuna.trial.Trial) -> Any:
        try:
            mark_owner(trial)
            if not wait_for_slot(trial.study, budget, tracker, trial.number, deadline):
                trial.set_user_attr(SURPLUS, True)
                trial.set_user_attr(FAIL_REASON, "surplus: other workers filled search.n_trials")
                trial.study.stop()
                raise TrialFailed("surplus: other workers filled search.n_trials")
            return objective(trial)
        except KeyboardInterrupt:  # wherever it struck, the FAIL says why (further signals are ignored)
            _delivered()
            if FAIL_REASON not in trial.user_attrs:
                trial.set_user_attr(FAIL_REASON, "interrupted")
            raise
        except Exception as err:
            signum = interrupted()
            if signum is None:
                raise
            _delivered()
            log.warning("trial %d: the interrupt came out of it as an error (%s): it is FAIL as interrupted",
                        trial.number, err)
            trial.set_user_attr(FAIL_REASON, "interrupted")
            kill_run(tracker, trial, "interrupted", closed_too=True)  # the objective closed it FAILED
            raise Interrupted(signum) from err

    return guarded


def agree_parent(study: optuna.Study, created: bool, tracker: Tracker, name: str,
                 tags: dict[str, str]) -> str:
    """The study's one MLflow parent run, reopened RUNNING; created by the worker that created the study.

    A worker that joined a study created a moment ago waits for the creator's parent run.
    """
    run_id = study.user_attrs.get(PARENT_RUN_ID)
    if run_id is None and not created and not study.get_trials(deepcopy=False):
        deadline = time.monotonic() + PARENT_WAIT_S
        while run_id is None and time.monotonic() < deadline:
            time.sleep(POLL_S)
            run_id = study.user_attrs.get(PARENT_RUN_ID)
    parent_id = tracker.open_parent(run_id, name, tags=tags)
    if parent_id != run_id:
        study.set_user_attr(PARENT_RUN_ID, parent_id)
    return parent_id


def close_parent(study: optuna.Study, tracker: Tracker, parent_id: str, status: str) -> None:
    """Close the parent run, unless workers elsewhere still run trials (the last one out closes it)."""
    reap(study, tracker)
    sweep_runs(study, tracker, parent_id)
    if study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        log.info("other workers still run trials of this study: parent run %s stays RUNNING", parent_id)
        return
    tracker.close_parent(parent_id, status)


class Interrupted(KeyboardInterrupt):
    """SIGTERM (or SIGINT) arrived: the current trial fails, its run is KILLED, the run stops."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@dataclass
class _Interrupt:
    """What one ``interrupts_once`` block knows of the signal that interrupts it."""

    signum: int | None = None  # the first SIGTERM or SIGINT, once one came
    delivered: bool = False  # its exception reached ``guard_slot``
    over: bool = False  # the block has ended


_interrupt: _Interrupt | None = None  # the innermost block's


def interrupted() -> int | None:
    """The signal that interrupted the enclosing ``interrupts_once`` block, or None."""
    return None if _interrupt is None else _interrupt.signum


def _delivered() -> None:
    if _interrupt is not None:
        _interrupt.delivered = True


@contextmanager
def interrupts_once() -> Iterator[None]:
    """Within: SIGTERM, like Ctrl-C, raises ``Interrupted``; after the first, both are ignored so
    that the cleanup (trial FAIL, run KILLED) is not itself interrupted.

    The handler raises wherever the main thread is, and inside TensorFlow that exception can be
    lost on its way: raised in a finalizer or weakref callback, Python drops it; C code that meets
    it may clear it, or raise a TypeError, SystemError or RuntimeError of its own. So until it
    reaches ``guard_slot`` (which fails a trial that ends in another error as interrupted) or
    leaves the block, it is raised again every RETRY_S, though never while an exception is being
    handled: that is the cleanup. At the latest, the block ends by raising it.
    """
    global _interrupt
    signals = (signal.SIGTERM, signal.SIGINT)
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread
        return
    state, outer = _Interrupt(), _interrupt

    def handler(signum: int, frame: FrameType | None) -> None:
        if state.signum is None:
            state.signum = signum
            _thread.start_new_thread(retry, ())  # not threading: its locks may be held where the signal lands
        elif state.delivered or sys.exc_info()[1] is not None:
            return
        raise Interrupted(state.signum)

    def retry() -> None:
        while True:
            time.sleep(RETRY_S)
            if state.over or state.delivered:
                return
            _thread.interrupt_main(signal.SIGTERM)  # runs the handler in the main thread

    previous = {sig: signal.signal(sig, handler) for sig in signals}
    _interrupt = state
    try:
        yield
    except KeyboardInterrupt:
        raise
    except Exception as err:
        if state.signum is None:
            raise
        raise Interrupted(state.signum) from err  # the interrupt, come out as another error
    finally:
        state.over = True
        _interrupt = outer
        for sig, old in previous.items():
            signal.signal(sig, old)
    if state.signum is not None:
        raise Interrupted(state.signum)  # lost on its way all the time the block still ran
