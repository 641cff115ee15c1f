"""The documented ``optuna-dashboard experiments/<name>/study.journal`` serves a study tuner wrote."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import optuna
import pytest

from tuner.study import StudyRef, storage_for

from .test_postgres import free_port

pytestmark = pytest.mark.slow  # starts a server


def test_optuna_dashboard_opens_the_journal_of_a_study(tmp_path):
    ref = StudyRef("digits_cnn", str(tmp_path / "experiments"))
    study = optuna.create_study(study_name=ref.name, storage=storage_for(ref), direction="maximize")
    study.optimize(lambda t: t.suggest_float("lr", 1e-4, 1e-1, log=True), n_trials=2)
    port = free_port()
    server = subprocess.Popen([str(Path(sys.executable).with_name("optuna-dashboard")), str(ref.journal),
                               "--port", str(port), "--server", "wsgiref", "--quiet"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        end = time.monotonic() + 60
        while True:
            assert server.poll() is None, server.stderr.read() if server.stderr else ""
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies", timeout=2) as reply:
                    studies = json.load(reply)["study_summaries"]
                break
            except OSError:
                assert time.monotonic() < end, "optuna-dashboard did not answer"
                time.sleep(0.3)
        assert [s["study_name"] for s in studies] == ["digits_cnn"]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies/{studies[0]['study_id']}", timeout=5) as r:
            assert [t["state"] for t in json.load(r)["trials"]] == ["Complete", "Complete"]
    finally:
        server.terminate()
        server.wait(timeout=30)
