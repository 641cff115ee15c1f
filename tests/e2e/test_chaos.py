"""The chaos soak of bench/chaos.py, short: a two-worker study whose workers are killed with SIGKILL in the middle
of trials every 8-15 s, rerun until it exits 0; nothing is lost, counted twice or left behind.

Each kill costs a worker's start (about a minute on the loaded 2-core machine it was written on, where
importing Keras alone took 41 s), so the study is 6 trials."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest
from bench.chaos import command, leftovers, soak, worker_pids

pytestmark = pytest.mark.slow  # the real command, its worker processes, and SIGKILL

LIMIT_S = 720.0  # a soak that cannot finish fails on its own, before pytest's timeout (900 s)


def test_workers_killed_mid_trial_lose_nothing_and_leave_nothing(tmp_path: Path) -> None:
    # at_trials: trials 1 and 3 (or the next ones running) are killed even when all 6 finish within 8 s (idle)
    figures = soak(tmp_path, 6, every=(8.0, 15.0), seed=3, limit_s=LIMIT_S, mid_trial=True, at_trials=(1, 3),
                   extra=("tracking.log_models=false",))  # shorter trials: more of them finish between kills
    assert figures["violations"] == [], (figures, (tmp_path / "soak.log").read_text()[-4000:])
    assert figures["kills"] >= 2 and figures["killed_trials"] >= 2  # the soak did kill trials
    assert figures["finished"] == 6 and figures["states"].get("RUNNING", 0) == 0
    assert figures["mlflow_child_runs"] >= figures["trials"] - figures["states"].get("FAIL", 0)
    assert figures["exit_codes"][-1] == 0


def test_leftovers_names_what_a_killed_worker_leaves(tmp_path: Path) -> None:
    study = tmp_path / "experiments" / "digits_mlp"
    study.mkdir(parents=True)
    (tmp_path / "tmp").mkdir()
    (study / "study.journal").write_text("")
    (study / "leaderboard.csv").write_text("")
    assert leftovers(tmp_path) == []
    (tmp_path / "tmp" / "tuner-worker-0-abc").mkdir()
    (study / ".submission.csv.x1.tmp").write_text("")
    (study / "study.journal.lock").write_text("")
    assert leftovers(tmp_path) == ["TMPDIR/tuner-worker-0-abc", "experiments/digits_mlp/.submission.csv.x1.tmp",
                                   "experiments/digits_mlp/study.journal.lock"]


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def test_the_workers_of_a_killed_launcher_remove_their_temporary_folders(tmp_path: Path) -> None:
    tmp, log = tmp_path / "tmp", tmp_path / "run.log"
    tmp.mkdir()
    with log.open("w") as out:
        proc = subprocess.Popen(command(tmp_path, 20, "tracking.log_models=false"), cwd=tmp_path, stdout=out,
                                stderr=subprocess.STDOUT, env={**os.environ, "TMPDIR": str(tmp)})
    end = time.monotonic() + 300
    while log.read_text().count("joins study") < 2:  # both workers are in their trial loops
        assert proc.poll() is None and time.monotonic() < end, log.read_text()[-3000:]
        time.sleep(0.5)
    workers = worker_pids(proc.pid)
    assert len(workers) == 2 and len(list(tmp.iterdir())) == 2  # a folder each
    proc.kill()
    proc.wait()
    end = time.monotonic() + 120
    while any(alive(p) for p in workers) and time.monotonic() < end:  # each sees its parent gone within 1 s
        time.sleep(0.5)
    assert not any(alive(p) for p in workers)
    assert list(tmp.iterdir()) == []
