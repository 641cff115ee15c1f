"""Every shipped experiment composes, validates and runs one tiny trial, so none can rot."""

from __future__ import annotations

from pathlib import Path

import pytest

from tuner.run import run_study
from tuner.study import open_study

from .conftest import ROOT, TINY_CNN

EXPERIMENTS = sorted(p.stem for p in (ROOT / "conf" / "experiment").glob("*.yaml"))


def test_the_contract_experiments_exist():
    assert {"digits_mlp", "digits_cnn", "digits_mlp_vs_cnn"} <= set(EXPERIMENTS)


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_experiment_runs_one_tiny_trial(name, make_cfg):
    cfg = make_cfg(f"+experiment={name}", "search.n_trials=1", "search.enqueue=[]", *TINY_CNN)
    assert cfg.name == name, "an experiment's name must match its file name"
    run_study(cfg)
    assert [t.state.name for t in open_study(cfg).trials] == ["COMPLETE"]
    assert Path(cfg.experiments_dir, name, "leaderboard.csv").exists()
