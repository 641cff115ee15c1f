"""Agreeing on the budget, reaping dead workers' trials, bad storage and worker counts.
Real Optuna journal storage and a real MLflow SQLite store; no training here."""

from __future__ import annotations

import os
import socket
import subprocess
import time

import optuna
import pytest

from tuner import app
from tuner.app import join_study, run_study
from tuner.errors import ConfigError
from tuner.runner.coordinate import mark_owner, reap, wait_for_slot
from tuner.search import parse_space
from tuner.study import join_study as join_stored
from tuner.study import repair_journal
from tuner.study.records import WORKER_HOST as HOST_ATTR
from tuner.study.records import WORKER_PID as PID_ATTR
from tuner.study.records import WORKER_STARTED as START_ATTR
from tuner.tracking.tracker import Tracker

RUNNING = optuna.trial.TrialState.RUNNING


def dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def running_trial(study: optuna.Study, pid: int | None = None) -> optuna.trial.Trial:
    trial = study.ask()
    mark_owner(trial)
    if pid is not None:
        trial.set_user_attr(PID_ATTR, pid)
    return trial


def test_slots_are_ordered_by_trial_number(make_cfg):
    study = join_study(make_cfg("+experiment=digits_mlp"))
    first, second = running_trial(study), running_trial(study)
    # budget 1: trial 0 holds the slot, trial 1 must wait for it and is refused when time is up
    assert wait_for_slot(study, 1, None, first.number)
    begin = time.monotonic()
    assert not wait_for_slot(study, 1, None, second.number, deadline=begin + 1.0)
    assert time.monotonic() - begin >= 1.0
    assert wait_for_slot(study, 2, None, second.number)
    study.tell(first, state=optuna.trial.TrialState.FAIL)  # a failed trial frees its slot
    assert wait_for_slot(study, 1, None, second.number)
    study.tell(second, 0.5)
    assert not wait_for_slot(study, 1, None)  # budget reached: no new trial
    assert wait_for_slot(study, 2, None)


@pytest.mark.slow
def test_dead_workers_trials_are_failed_and_their_runs_killed(make_cfg, workdir):
    cfg = make_cfg("+experiment=digits_mlp")
    study = join_study(cfg)
    tracker = Tracker(cfg.tracking.uri, cfg.name)
    alive, dead, elsewhere = running_trial(study), running_trial(study, dead_pid()), running_trial(study, dead_pid())
    elsewhere.set_user_attr(HOST_ATTR, "another-" + socket.gethostname())
    run = tracker.start_trial(tracker.open_parent(None, "study"), dead.number, {}, {})
    dead.set_user_attr("mlflow_run_id", run)

    assert reap(study, tracker) == [dead.number]
    states = {t.number: t.state for t in study.trials}
    assert states == {alive.number: RUNNING, dead.number: optuna.trial.TrialState.FAIL, elsewhere.number: RUNNING}
    assert "died" in study.trials[dead.number].user_attrs["fail_reason"]
    info = tracker.client.get_run(run)
    assert info.info.status == "KILLED" and info.data.tags["optuna.state"] == "FAIL"
    assert reap(study, tracker) == []  # nothing left to reap


@pytest.mark.slow
def test_a_dead_workers_trial_keeps_one_run_and_it_is_killed(make_cfg, workdir):
    # what the chaos soak (bench/chaos.py) met: a worker killed after it closed its run but before Optuna heard
    # the outcome; one killed before it opened its run; one killed after it opened it but before it recorded it
    cfg = make_cfg("+experiment=digits_mlp")
    study = join_study(cfg)
    tracker = Tracker(cfg.tracking.uri, cfg.name)
    parent = tracker.open_parent(None, "study")
    study.set_user_attr("mlflow_parent_run_id", parent)
    closed, no_run, unrecorded = (running_trial(study, dead_pid()) for _ in range(3))
    run = tracker.start_trial(parent, closed.number, {}, {})
    closed.set_user_attr("mlflow_run_id", run)
    tracker.end_trial(run, "COMPLETE", {"final_val_accuracy": 0.5})
    created = tracker.start_trial(parent, unrecorded.number, {}, {})

    assert reap(study, tracker) == [closed.number, no_run.number, unrecorded.number]
    runs = tracker.client.search_runs([tracker.experiment_id], f"tags.`mlflow.parentRunId` = '{parent}'")
    by_number = {}
    for r in runs:
        by_number.setdefault(int(r.data.tags["optuna.trial_number"]), []).append(r)
    assert sorted(by_number) == [closed.number, no_run.number, unrecorded.number]
    assert all(len(found) == 1 and found[0].info.status == "KILLED" for found in by_number.values())
    assert by_number[closed.number][0].info.run_id == run and by_number[unrecorded.number][0].info.run_id == created
    assert "died" in by_number[no_run.number][0].data.tags["optuna.fail_reason"]


def test_a_reused_pid_is_not_mistaken_for_the_owner(make_cfg):
    study = join_study(make_cfg("+experiment=digits_mlp"))
    trial = running_trial(study, os.getpid())
    trial.set_user_attr(START_ATTR, "1")  # same pid, started at another time: another process
    assert reap(study, None) == [trial.number]


def test_a_trial_is_not_reaped_while_its_owner_is_still_recording_itself(make_cfg, monkeypatch):
    # another worker may read the trial between any two of mark_owner's writes (CI saw one reap a
    # trial whose pid was written and whose start time was not yet, then "Cannot tell a FAIL trial")
    study = join_study(make_cfg("+experiment=digits_mlp"))
    trial = study.ask()
    seen = []
    set_attr = trial.set_user_attr

    def set_and_look(key, value):
        set_attr(key, value)
        seen.append((key, reap(study, None), study.trials[trial.number].state))

    monkeypatch.setattr(trial, "set_user_attr", set_and_look)
    mark_owner(trial)
    assert {key for key, _, _ in seen} == {HOST_ATTR, PID_ATTR, START_ATTR, "worker_rss_mb"}
    assert all(reaped == [] and state == RUNNING for _, reaped, state in seen), seen


def test_torn_journal_tail_is_cut_and_kept(make_cfg, workdir):
    cfg = make_cfg("+experiment=digits_mlp")
    study = join_study(cfg)
    study.tell(study.ask(), 0.5)
    path = workdir / "experiments/digits_mlp/study.journal"
    intact = path.read_bytes()
    path.write_bytes(intact + b'{"op_code": 5, "worker_id": "x", "trial_id": 1, "us')
    assert repair_journal(path) > 0
    assert path.read_bytes() == intact
    assert (path.parent / "study.journal.torn").read_bytes().startswith(b'{"op_code": 5')
    path.write_bytes(intact + b"garbage\n")  # a complete line that is not JSON, last: also torn
    study = join_study(cfg)
    study.tell(study.ask(), 0.7)
    assert [t.value for t in join_study(cfg).trials] == [0.5, 0.7]


def test_corruption_before_the_last_record_is_a_clear_error(make_cfg, workdir):
    cfg = make_cfg("+experiment=digits_mlp")
    study = join_study(cfg)
    study.tell(study.ask(), 0.5)
    path = workdir / "experiments/digits_mlp/study.journal"
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(lines[0] + b"{not json\n" + b"".join(lines[1:]))
    with pytest.raises(ConfigError, match="study.journal: record 2 of .* is corrupt"):
        join_study(cfg)


def test_a_study_reused_with_another_space_is_refused(make_cfg):
    join_study(make_cfg("+experiment=digits_mlp"))
    join_study(make_cfg("+experiment=digits_mlp"))  # same space: resumes
    with pytest.raises(ConfigError, match=r"different search.space .* name=<new name>, or delete .*study.journal"):
        join_study(make_cfg("+experiment=digits_mlp", "search.space.width={type:int,low:8,high:32}"))


def test_only_one_of_two_joiners_creates_the_study(make_cfg):
    plan = app.plan(make_cfg("+experiment=digits_mlp"))
    space = parse_space(plan.search.space)
    assert join_stored(plan.study, plan.goals, space)[1] is True
    assert join_stored(plan.study, plan.goals, space)[1] is False


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("url, expected", [
    ("postgresql://tuner:s3cret@127.0.0.1:{port}/tuner", "postgresql://tuner:\\*\\*\\*@127.0.0.1:{port}/tuner cannot be opened"),
    ("postgresql://tuner:s3cret@127.0.0.1:notaport/tuner", "postgresql://tuner:\\*\\*\\*@127.0.0.1:notaport/tuner cannot be opened"),
    ("redis://tuner:s3cret@127.0.0.1:{port}", "redis://tuner:\\*\\*\\*@127.0.0.1:{port}: unsupported URL"),
])
def test_a_storage_that_cannot_be_used_stops_before_training(make_cfg, workdir, url, expected):
    port = closed_port()
    cfg = make_cfg("+experiment=digits_mlp", f"search.storage={url.format(port=port)}")
    with pytest.raises(ConfigError, match=expected.format(port=port)) as err:
        run_study(cfg)
    assert "s3cret" not in str(err.value)
    assert not (workdir / "mlflow.db").exists()


@pytest.mark.parametrize("n_workers, message", [
    (0, "give at least 1 worker"), (-2, "give at least 1 worker"),
    (4, "more than search.n_trials=3"), (10_000, "would only thrash"),
])
def test_bad_worker_counts(make_cfg, n_workers, message):
    trials = ["search.n_trials=100000"] if n_workers == 10_000 else []
    with pytest.raises(ConfigError, match=f"search.n_workers={n_workers}.*{message}"):
        run_study(make_cfg("+experiment=digits_mlp", f"search.n_workers={n_workers}", *trials))


def test_a_trial_that_never_recorded_its_owner_is_reaped_after_a_while(make_cfg, monkeypatch):
    import tuner.runner.coordinate

    study = join_study(make_cfg("+experiment=digits_mlp"))
    orphan = study.ask()
    assert reap(study, None) == []  # just started: its worker may be recording itself right now
    monkeypatch.setattr(tuner.runner.coordinate, "ORPHAN_S", 0.0)
    assert reap(study, None) == [orphan.number]
    assert "before it recorded itself" in study.trials[0].user_attrs["fail_reason"]


def test_runs_left_running_without_a_running_trial_are_swept(make_cfg):
    from tuner.runner.coordinate import sweep_runs

    cfg = make_cfg("+experiment=digits_mlp")
    study = join_study(cfg)
    tracker = Tracker(cfg.tracking.uri, cfg.name)
    parent = tracker.open_parent(None, "study")
    live = running_trial(study)
    kept = tracker.start_trial(parent, live.number, {}, {})
    gone = study.ask()
    study.tell(gone, state=optuna.trial.TrialState.FAIL)  # interrupted before it recorded its run
    orphan = tracker.start_trial(parent, gone.number, {}, {})
    sweep_runs(study, tracker, parent)
    assert tracker.client.get_run(orphan).info.status == "KILLED"
    assert tracker.client.get_run(kept).info.status == "RUNNING"


def test_workers_killed_in_a_row_with_no_trial_finishing_stop_the_run_at_max_failures():
    from tuner.runner.workers import _Deaths

    study = optuna.create_study()
    deaths = _Deaths(study, limit=3)
    assert deaths.died(0, dead_pid(), 9, None) is None  # replaced
    assert deaths.died(1, dead_pid(), 9, None) is None
    study.tell(study.ask(), 0.5)  # a trial finished since: the count starts again
    assert deaths.died(0, dead_pid(), 9, None) is None
    assert deaths.died(0, dead_pid(), 9, None) is None
    verdict = deaths.died(1, 4321, 9, None)
    assert verdict is not None and "pid 4321" in verdict and "SIGKILL" in verdict
    assert "search.max_failures=3" in verdict
