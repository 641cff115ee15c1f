"""The tracking spool: calls kept while the store does not answer, sent in order once it does, never twice;
a dead process's spool sent by the next invocation; a corrupt one set aside. Real stores: SQLite, and a real
`mlflow server` stopped (SIGSTOP) or killed under the tracker."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from tuner.errors import TunerError
from tuner.tracking.sender import PENDING
from tuner.tracking.spool import CORRUPT, Spool, leftovers
from tuner.tracking.tracker import TAG_RUN_KEY, Tracker

from ..runs import free_port, start_mlflow_server, stop_server


def test_a_kept_call_copies_its_file_and_is_dropped_once_sent(tmp_path):
    spool = Spool.create(tmp_path / "spool")
    source = tmp_path / "curves.png"
    source.write_bytes(b"png")
    spool.keep("log_file", {"run_id": "r1", "path": str(source), "artifact_path": None})
    source.unlink()  # the trial's temporary folder goes; the spool's copy stays
    spool.keep("log_metrics", {"run_id": "r1", "metrics": {"loss": 0.5}, "step": 0, "timestamp": 1})
    kept = Path(spool.ops[0]["args"]["path"])
    assert kept.read_bytes() == b"png" and kept.is_relative_to(spool.files)
    assert [json.loads(line)["op"] for line in spool.path.read_text().splitlines()] == ["log_file", "log_metrics"]
    spool.sent(1)
    assert not kept.exists() and [op["op"] for op in spool.ops] == ["log_metrics"]
    assert [json.loads(line)["op"] for line in spool.path.read_text().splitlines()] == ["log_metrics"]
    assert list(leftovers(tmp_path / "spool")) == []  # locked: its process lives
    spool.sent(1)
    spool.close()
    assert not spool.path.exists() and not spool.files.exists()


def test_a_dead_process_spool_is_a_leftover_and_a_corrupt_one_is_set_aside(tmp_path, caplog):
    folder = tmp_path / "spool"
    dead = Spool.create(folder)
    dead.keep("set_tags", {"run_id": "r1", "tags": {"a": "1"}})
    dead.handle.close()  # as its process's death does: the lock goes with it
    (folder / "torn.jsonl").write_text('{"op": "set_tags", "args": {"run_id": "r2"}}\n{"op": "set_ta')
    (found,) = leftovers(folder)
    assert found.path == dead.path and found.ops == dead.ops
    assert (folder / f"torn.jsonl{CORRUPT}").exists() and not (folder / "torn.jsonl").exists()
    assert "torn.jsonl is corrupt" in caplog.text and "set aside" in caplog.text
    found.close()


@pytest.mark.slow
def test_a_locked_sqlite_store_keeps_the_calls_and_they_are_sent_once_it_is_free(tmp_path, caplog):
    db = tmp_path / "mlflow.db"
    tracker = Tracker(f"sqlite:///{db}", "locked", spool=tmp_path / "spool")
    parent = tracker.open_parent(None, "study")
    locked, release = threading.Event(), threading.Event()

    def hold() -> None:  # another program holds the file past MLflow's 20 s busy timeout
        con = sqlite3.connect(db, isolation_level=None)
        con.execute("BEGIN EXCLUSIVE")
        locked.set()
        release.wait(60)
        con.execute("ROLLBACK")
        con.close()

    holder = threading.Thread(target=hold)
    holder.start()
    locked.wait(10)
    try:
        began = time.monotonic()
        child = tracker.start_trial(parent, 0, {"width": 8}, {})
        tracker.log_epoch(child, 0, {"loss": 0.5})
        tracker.log_epoch(child, 1, {"loss": 0.4})
        waited = time.monotonic() - began
    finally:
        release.set()
        holder.join()
    assert child.startswith(PENDING)
    assert waited < 40  # one wait for the lock, then the calls go straight to the spool
    assert "does not answer" in caplog.text
    assert tracker.finish(60)
    run_id = tracker.resolve(child)
    assert run_id and not run_id.startswith(PENDING)
    history = tracker.client.get_metric_history(run_id, "loss")
    assert [m.step for m in history] == [0, 1]
    assert not list((tmp_path / "spool").glob("*.jsonl"))


@pytest.mark.slow
def test_a_stopped_server_does_not_block_and_a_run_whose_reply_was_lost_is_not_made_twice(tmp_path):
    port = free_port()
    server = start_mlflow_server(tmp_path, port)
    try:
        first = Tracker(f"http://127.0.0.1:{port}", "lost")
        parent = first.open_parent(None, "study")
        # a run the server made, whose reply never came back to a process that kept the call and died: the next
        # invocation sends that spool, and finds the run by its key instead of making it again
        made = first.client.create_run(first.experiment_id, tags={TAG_RUN_KEY: "k1"}).info.run_id
        dead = Spool.create(tmp_path / "spool")
        dead.keep("start_trial", {"parent_id": parent, "number": 0, "key": "k1", "params": {"width": "8"},
                                  "tags": {}, "look": True})
        dead.handle.close()
        tracker = Tracker(f"http://127.0.0.1:{port}", "lost", spool=tmp_path / "spool")
        assert not list((tmp_path / "spool").glob("*.jsonl"))
        assert tracker.resolve(PENDING + "k1") == made
        assert len(tracker.client.search_runs([tracker.experiment_id], f"tags.`{TAG_RUN_KEY}` = 'k1'")) == 1
        assert tracker.client.get_run(made).data.params == {"width": "8"}

        os.killpg(server.pid, signal.SIGSTOP)  # it accepts connections and never answers
        try:
            began = time.monotonic()
            child = tracker.start_trial(parent, 1, {}, {})
            for epoch in range(5):
                tracker.log_epoch(child, epoch, {"loss": 1.0 / (epoch + 1)})
            assert time.monotonic() - began < 25  # bounded: one timeout (10 s), then the spool
        finally:
            os.killpg(server.pid, signal.SIGCONT)
        assert tracker.finish(60)
        run_id = tracker.resolve(child)
        assert len(tracker.client.search_runs([tracker.experiment_id], "tags.`optuna.trial_number` = '1'")) == 1
        assert [m.step for m in tracker.client.get_metric_history(run_id, "loss")] == list(range(5))
    finally:
        stop_server(server)


def test_a_store_that_is_down_or_not_mlflow_at_the_start_is_one_clear_error(tmp_path):
    import http.server

    with pytest.raises(TunerError, match=r"does not answer .*start it"):
        Tracker(f"http://127.0.0.1:{free_port()}", "x", spool=tmp_path / "spool")
    page = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    threading.Thread(target=page.serve_forever, daemon=True).start()
    try:
        with pytest.raises(TunerError, match="answers, but not as an MLflow tracking server"):
            Tracker(f"http://127.0.0.1:{page.server_address[1]}", "x", spool=tmp_path / "spool")
    finally:
        page.shutdown()
