"""The private Optuna, NumPy and Keras APIs behind ``tuner._compat`` still exist in the installed versions, in the
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



def test_keras_set_random_seed_still_sets_the_state_the_copy_without_tensorflow_sets():
    # tuner._compat.keras.set_random_seed repeats keras.utils.set_random_seed minus TensorFlow's seed: a Keras
    # release that seeds something more (or moves these names) must fail here
    import keras
    from keras.src.backend.common import global_state
    from keras.src.random import seed_generator
    from keras.src.utils import rng_utils

    from tuner._compat.keras import set_random_seed

    body = inspect.getsource(rng_utils.set_random_seed)
    seeded = {line.strip() for line in body.splitlines()
              if ("seed(" in line or "set_global_attribute(" in line) and not line.lstrip().startswith("def ")
              and ">>>" not in line and "`" not in line}
    assert seeded == {"global_state.set_global_attribute(GLOBAL_RANDOM_SEED, seed)", "global_state.set_global_attribute(",
                      "random.seed(seed)", "np.random.seed(seed)", "tf.random.set_seed(seed)",
                      "torch.manual_seed(seed)"}, seeded
    keras.utils.set_random_seed(11)
    global_state.set_global_attribute(seed_generator.GLOBAL_SEED_GENERATOR, "stale")
    set_random_seed(11)  # this process runs TensorFlow: Keras' own, which clears the generator
    assert global_state.get_global_attribute(seed_generator.GLOBAL_SEED_GENERATOR) is None
    assert rng_utils.get_random_seed() == 11


def test_keras_still_asks_its_lazy_tensorflow_module_whether_tensorflow_is_available():
    # keep_tensorflow_unloaded sets the answer that module caches; Keras' probes must still go through it
    from keras.src.saving import serialization_lib
    from keras.src.utils import module_utils

    assert isinstance(module_utils.tensorflow, module_utils.LazyModule) and hasattr(module_utils.tensorflow,
                                                                                    "_available")
    assert "tf.available" in inspect.getsource(serialization_lib.serialize_keras_object)
    probe = module_utils.LazyModule("tensorflow")
    probe._available = False
    assert probe.available is False and probe.module is None  # the cached answer: no import
