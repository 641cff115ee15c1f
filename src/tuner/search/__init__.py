"""The search stage: the space declared in YAML, parsed and checked; drawing a trial's values; samplers.

Example::

    from tuner.search import parse_space, sample
    space = parse_space(cfg.search.space)
    hp = sample(optuna.trial.FixedTrial({"width": 64}), space)
"""

from __future__ import annotations

from tuner.search.sampling import sample, trial_seed
from tuner.search.space import Param, check_flip, first_values, misfit_of, parse_space

__all__ = ["Param", "check_flip", "first_values", "misfit_of", "parse_space", "sample", "trial_seed"]
