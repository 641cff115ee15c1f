"""tuner.search.samplers.CostAwareTPESampler (sampler=tpe_cost) on real Optuna studies: plain TPE when the cost
exponent is 0 or the budget is spent, cheaper configurations when cost counts."""

from __future__ import annotations

import optuna
import pytest

from tuner.app import join_study, prepare, run_study
from tuner.config import compose
from tuner.errors import ConfigError
from tuner.search.samplers import CostAwareTPESampler

SLOW, FAST = 40.0, 1.0  # seconds per epoch of the two sizes in _sized_study


def _sized_study(sampler: optuna.samplers.BaseSampler, n_trials: int = 30) -> list[dict]:
    """A search where ``size`` does not change the score but 'big' costs 40 times as much per epoch."""
    def objective(trial: optuna.trial.Trial) -> float:
        size = trial.suggest_categorical("size", ["small", "big"])
        x = trial.suggest_float("x", 0.0, 1.0)
        epochs = trial.suggest_int("epochs", 1, 3)
        for step in range(epochs):
            trial.report(x, step)
        trial.set_user_attr("seconds", epochs * (SLOW if size == "big" else FAST))
        return x

    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(objective, n_trials=n_trials)
    return [t.params for t in study.trials]


TPE = {"seed": 3, "n_startup_trials": 5, "multivariate": True}


def test_cost_exponent_zero_samples_exactly_as_plain_tpe():
    assert _sized_study(CostAwareTPESampler(cost_exponent=0.0, **TPE)) == _sized_study(optuna.samplers.TPESampler(**TPE))


def test_a_spent_budget_cools_the_cost_away():
    # every trial costs at least 1 s, so after the 5 start-up trials a 2-second budget is spent: alpha is 0
    assert _sized_study(CostAwareTPESampler(budget=2.0, **TPE)) == _sized_study(optuna.samplers.TPESampler(**TPE))


def _seconds(params: dict) -> float:
    return params["epochs"] * (SLOW if params["size"] == "big" else FAST)


def test_cost_aware_tpe_picks_the_cheap_size_and_spends_far_less():
    plain = _sized_study(optuna.samplers.TPESampler(**TPE))[5:]
    costed = _sized_study(CostAwareTPESampler(cost_exponent=1.0, **TPE))[5:]
    small = [sum(p["size"] == "small" for p in trials) for trials in (plain, costed)]
    assert small[1] >= 0.8 * len(costed) and small[1] > small[0], small
    spent = [sum(map(_seconds, trials)) for trials in (plain, costed)]
    assert spent[1] < spent[0] / 3, spent
    # the score still counts: x is drawn high as in plain TPE (both well above a uniform draw's 0.5)
    assert sum(p["x"] for p in costed) / len(costed) > 0.6


@pytest.mark.parametrize("override, key", [("sampler.cost_exponent=-1", "sampler.cost_exponent=-1"),
                                           ("sampler.budget=-5", "sampler.budget=-5")])
def test_bad_cost_settings_name_their_key(override, key):
    with pytest.raises(ConfigError, match=key):
        prepare(compose(["sampler=tpe_cost", override]))


@pytest.mark.slow
def test_tpe_cost_drives_a_keras_study_past_its_start_up_trials(make_cfg):
    # two start-up trials, then two sampled with the cost model fitted on tuner's own `seconds` records
    cfg = make_cfg("+experiment=digits_mlp", "sampler=tpe_cost", "sampler.n_startup_trials=2", "search.n_trials=4",
                   "search.timeout=3600")
    sampler = prepare(cfg).sampler
    assert isinstance(sampler, CostAwareTPESampler) and sampler._budget == 3600.0
    run_study(cfg)
    trials = join_study(cfg).trials
    assert [t.state.name for t in trials] == ["COMPLETE"] * 4
    assert all(t.user_attrs["seconds"] > 0 for t in trials)
