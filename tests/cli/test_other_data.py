"""A study resumed or exported on other data, as a user types it: refused with exit code 2, naming what differs."""

from __future__ import annotations

import pytest

from ..conftest import TINY
from .test_commands import tuner

pytestmark = pytest.mark.slow  # every test runs a command in a subprocess


def test_resuming_or_exporting_on_other_data_exits_2_naming_the_keys(tmp_path):
    args = ["+experiment=digits_mlp", "name=fp", *(o for o in TINY if not o.startswith("search.n_trials"))]
    done = tuner(tmp_path, *args, "search.n_trials=1")
    assert done.returncode == 0, done.stderr[-3000:]

    resumed = tuner(tmp_path, *args, "search.n_trials=2", "data.source=sklearn8x8")
    out = resumed.stdout + resumed.stderr
    assert resumed.returncode == 2, out[-3000:]
    assert "study 'fp' in experiments/fp/study.journal was run with a different" in out
    assert 'data.source ("mnist5k", now "sklearn8x8")' in out and "data.input_shape ([28, 28, 1], now [8, 8, 1])" in out
    assert "name=<new name>, or delete this one: `python -m tuner.studies delete fp`" in out
    assert "Traceback" not in out and out.count("COMPLETE") == 0  # refused before any trial

    exported = tuner(tmp_path, *args, "data.source=sklearn8x8", module="tuner.export")
    out = exported.stdout + exported.stderr
    assert exported.returncode == 2, out[-3000:]
    assert 'was trained on a different data.source ("mnist5k", now "sklearn8x8")' in out and "Traceback" not in out
    assert not (tmp_path / "experiments/fp/submission.csv").exists()
