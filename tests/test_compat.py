"""The private Optuna and NumPy APIs behind ``tuner._compat`` still exist in the installed versions, in the
shape tuner uses. A release that changes one fails here, naming it, instead of deep inside a run."""

from __future__ import annotations

import importlib
import inspect
import pickle
import pickletools

import numpy as np
import optuna

from tuner._compat.numpy import RECONSTRUCT_NAMES, reconstruct
from tuner._compat.optuna import HookedTPESampler, fail_trial, heartbeat_enabled
from tuner.study.records import FAIL_REASON


def test_tpe_still_has_the_two_methods_the_hooks_replace():
    sample = inspect.signature(optuna.samplers.TPESampler._sample)
    assert list(sample.parameters) == ["self", "study", "trial", "search_space"]
    acquisition = inspect.signature(optuna.samplers.TPESampler._compute_acquisition_func)
    assert list(acquisition.parameters) == ["self", "samples", "mpe_below", "mpe_above"]
    sampler = optuna.samplers.TPESampler(seed=0, n_startup_trials=1)
    assert hasattr(sampler, "_gamma")  # set to its default on the first model-based sample
    optuna.create_study(sampler=sampler).optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=3)
    assert sampler._gamma(10) == optuna.samplers._tpe.sampler.default_gamma(10)


def test_the_hooks_are_called_on_a_real_study():
    calls: list[str] = []

    class Recording(HookedTPESampler):
        def before_sample(self, study, trial, search_space):
            calls.append("before")

        def acquisition(self, log_ratio, samples):
            calls.append("acquisition")
            assert 0 < self.good_fraction(len(calls)) < 1
            return log_ratio

    study = optuna.create_study(sampler=Recording(seed=0, n_startup_trials=2))
    study.optimize(lambda t: t.suggest_float("x", 0, 1) ** 2, n_trials=4)
    assert "before" in calls and "acquisition" in calls


def test_failing_another_processes_trial_and_the_heartbeat_check():
    study = optuna.create_study(storage=optuna.storages.InMemoryStorage())
    assert heartbeat_enabled(study) is False
    trial = study.ask()
    frozen = study.trials[0]
    assert fail_trial(study, frozen, "interrupted: its worker died", FAIL_REASON) is True
    assert study.trials[0].state == optuna.trial.TrialState.FAIL
    assert study.trials[0].user_attrs[FAIL_REASON] == "interrupted: its worker died"
    assert fail_trial(study, frozen, "again", FAIL_REASON) is False  # already finished: another worker got there
    del trial


def test_pickled_arrays_name_the_reconstructor():
    """CIFAR-10's batches are protocol-2 pickles: an array in one names the reconstructor as a global."""
    globals_named = [arg for op, arg, _ in pickletools.genops(pickle.dumps(np.arange(3), protocol=2))
                     if op.name == "GLOBAL"]
    assert any(tuple(g.split(" ")) in RECONSTRUCT_NAMES for g in globals_named), globals_named
    for module, name in RECONSTRUCT_NAMES[1:]:  # NumPy 2.x's own name
        assert getattr(importlib.import_module(module), name) is reconstruct
