"""``python -m tuner.replay``: one trial retrained from its logged hyperparameters and seed."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tuner.app import replay, run_study, study_ref
from tuner.config import compose
from tuner.errors import ConfigError
from tuner.study import open_study

from ..conftest import TINY

pytestmark = pytest.mark.slow  # a study and its replay train; the command runs in a subprocess


def test_replay_reproduces_the_trial_value_exactly(workdir):
    overrides = [f"experiments_dir={workdir / 'experiments'}", f"tracking.uri=sqlite:///{workdir / 'mlflow.db'}",
                 *TINY, "+experiment=digits_mlp", "search.n_trials=2"]
    cfg = compose(overrides)
    run_study(cfg, overrides)  # as `python -m tuner` passes its command-line overrides
    result = replay(cfg, 1)
    assert result.study == "digits_mlp_replay_t1" and result.metric == "val_accuracy"
    original = open_study(study_ref(cfg)).trials[1]
    assert result.original == original.value
    # same hyperparameters, data and seed, op determinism on: on CPU the value comes back exactly
    assert result.replayed == result.original
    replayed = open_study(study_ref(compose([*overrides, "name=digits_mlp_replay_t1"]))).trials
    assert len(replayed) == 1 and replayed[0].user_attrs["seed"] == original.user_attrs["seed"]
    assert replayed[0].user_attrs["hparams"] == original.user_attrs["hparams"]
    assert replay(cfg, 1) == result  # a second call reports the replay study, it does not train again
    with pytest.raises(ConfigError, match="trial=7: study 'digits_mlp' has trials 0..1"):
        replay(cfg, 7)


def test_replay_without_a_trial_number_exits_2(tmp_path):
    done = subprocess.run([sys.executable, "-m", "tuner.replay", "+experiment=digits_cnn"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    assert "trial=<number>" in done.stderr
