"""Optuna internals tuner uses, checked against Optuna 5.0 (``tests/test_compat.py`` fails on a release
that moves or renames one).

Example::

    if heartbeat_enabled(study):
        ...
    fail_trial(study, frozen, "interrupted: its worker died")  # False if another worker got there first
"""

from __future__ import annotations

from typing import Any

import numpy as np
import optuna
from optuna.storages._heartbeat import is_heartbeat_enabled
from optuna.trial import FrozenTrial, TrialState


def heartbeat_enabled(study: optuna.Study) -> bool:
    """Whether the study's storage beats a heartbeat for running trials (an RDB storage given one)."""
    return bool(is_heartbeat_enabled(study._storage))


def fail_trial(study: optuna.Study, trial: FrozenTrial, reason: str, reason_attr: str) -> bool:
    """Mark a RUNNING trial of another process FAIL with ``reason`` in user attribute ``reason_attr``;
    False when it had already finished (another worker reaped it first)."""
    try:
        study._storage.set_trial_user_attr(trial._trial_id, reason_attr, reason)
        study._storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
    except optuna.exceptions.UpdateFinishedTrialError:
        return False
    return True


class HookedTPESampler(optuna.samplers.TPESampler):
    """Optuna's TPE with two public hooks in place of its private methods:

    - ``before_sample(study, trial, search_space)``: called before each relative sample
      (``TPESampler._sample``);
    - ``acquisition(log_ratio, samples)``: rescore the candidates, given log l(x) - log g(x) per
      candidate (``TPESampler._compute_acquisition_func``);

    and ``good_fraction(n)``, the fraction γ of n finished trials TPE counts good (``TPESampler._gamma``).
    """

    def before_sample(self, study: optuna.Study, trial: FrozenTrial,
                      search_space: dict[str, optuna.distributions.BaseDistribution]) -> None:
        """Nothing by default."""

    def acquisition(self, log_ratio: np.ndarray, samples: dict[str, np.ndarray]) -> np.ndarray:
        """TPE's own score by default."""
        return log_ratio

    def good_fraction(self, n_finished: int) -> float:
        """γ: the fraction of ``n_finished`` trials TPE counts as good, in (0, 1)."""
        n = max(n_finished, 1)
        return min(max(self._gamma(n) / n, 1e-6), 1 - 1e-6)

    def _sample(self, study: optuna.Study, trial: FrozenTrial,
                search_space: dict[str, optuna.distributions.BaseDistribution]) -> dict[str, Any]:
        self.before_sample(study, trial, search_space)
        return super()._sample(study, trial, search_space)

    def _compute_acquisition_func(self, samples: dict[str, np.ndarray], mpe_below: Any, mpe_above: Any) -> np.ndarray:
        log_ratio = super()._compute_acquisition_func(samples, mpe_below, mpe_above)
        return self.acquisition(log_ratio, samples)


__all__ = ["HookedTPESampler", "fail_trial", "heartbeat_enabled"]
