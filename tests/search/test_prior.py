"""Priors in the search space: parsed and checked, drawn from, and followed by the default sampler's startup trials
in a real Optuna study. No training."""

from __future__ import annotations

import math

import numpy as np
import optuna
import pytest
from hydra.utils import instantiate

from tuner.config import compose
from tuner.errors import ConfigError
from tuner.search.prior import parse_prior, prior_density, sample_prior
from tuner.search.samplers import PriorTPESampler
from tuner.search.sampling import sample
from tuner.search.space import Param, parse_space
from tuner.study.fingerprint import fingerprint, searched

from .test_space import BASE, with_

LR = {"type": "float", "low": 1e-4, "high": 1e-1, "log": True}
OPT = {"type": "categorical", "choices": ["adam", "sgd", "rmsprop"]}
DROP = {"type": "float", "low": 0.0, "high": 0.5}


def entry(name: str, spec: dict, prior: dict | None) -> Param:
    return parse_space(with_(**{name: {**spec, "prior": prior}}))[name]


@pytest.mark.parametrize("name, spec, prior, message", [
    ("dropout", DROP, {"value": 0.2, "confidence": "sure"},
     r"unknown confidence 'sure' at search.space.dropout.prior.confidence; choose one of: low, medium, high"),
    ("dropout", DROP, {"value": 0.7}, (r"search.space.dropout.prior.value=0.7 is outside search.space.dropout "
     r"\[0.0, 0.5\].*set search.space.dropout.prior.value=<a value inside it>, or drop the prior: "
     r"'~search.space.dropout.prior'")),
    ("dropout", DROP, {"confidence": "high"}, r"search.space.dropout.prior.value must be a number"),
    ("dropout", DROP, {"value": 0.2, "weights": {"a": 1}}, (r"unknown field\(s\) \['weights'\] at "
     r"search.space.dropout.prior \(weights are for categorical entries\)")),
    ("dropout", DROP, 0.2, r"search.space.dropout.prior must be a mapping"),
    ("optimizer", OPT, {"weights": {"adam": 2, "nadam": 1}}, (r"search.space.optimizer.prior.weights names 'nadam', "
     r"which is not among search.space.optimizer.choices \['adam', 'sgd', 'rmsprop'\]")),
    ("optimizer", OPT, {"weights": {"adam": -1}}, (r"search.space.optimizer.prior.weights.adam=-1: a weight must be "
     r"a number >= 0")),
    ("optimizer", OPT, {"weights": {"adam": 0, "sgd": 0}}, r"search.space.optimizer.prior.weights are all 0"),
    ("optimizer", OPT, {"value": "adam"}, (r"unknown field\(s\) \['value'\] at search.space.optimizer.prior; "
     r"a categorical's prior takes weights")),
    ("optimizer", OPT, {"weights": {}}, r"search.space.optimizer.prior.weights must map choices to weights"),
    ("optimizer", OPT, {"weights": {"adam": 3}}, (r"search.space.optimizer.prior.weights gives every choice it names "
     r"the weight 3, .* so this prior is flat; weigh the others too, e.g. search.space.optimizer.prior.weights="
     r"\{adam: 1, sgd: 1, rmsprop: 1\}")),
])
def test_a_bad_prior_is_a_config_error_naming_its_key_and_fix(name, spec, prior, message):
    with pytest.raises(ConfigError, match=message):
        entry(name, spec, prior)


def test_a_prior_on_a_pinned_value_is_refused():
    with pytest.raises(ConfigError, match=r"search.space.epochs.prior: a pinned value carries no prior"):
        parse_space(with_(epochs={"prior": {"value": 3}}))
    with pytest.raises(ConfigError, match=r"search.space.epochs is pinned to 2, so it has nothing to weigh"):
        parse_prior("epochs", {"value": 3}, parse_space(BASE)["epochs"])


def test_null_drops_a_prior_and_unlisted_choices_get_the_smallest_weight():
    assert entry("dropout", DROP, None).prior is None
    weights = entry("optimizer", OPT, {"weights": {"adam": 3, "sgd": 1.5}}).prior.weights
    assert weights == (("adam", 3.0), ("sgd", 1.5), ("rmsprop", 1.5))
    assert entry("batch_size", {"type": "categorical", "choices": [32, 64]}, {"weights": {32: 1, 64: 1}}).prior.weights == (
        (32, 1.0), (64, 1.0))  # flat, as asked


def within(draws: list[float], centre: float, half: float) -> float:
    return float(np.mean([abs(d - centre) <= half for d in draws]))


def test_a_strong_prior_concentrates_draws_and_a_flat_one_does_not():
    rng = np.random.default_rng(0)
    strong = entry("dropout", DROP, {"value": 0.1, "confidence": "high"})
    flat = entry("dropout", DROP, None)
    draws = [sample_prior(strong, rng) for _ in range(500)]
    assert all(0.0 <= d <= 0.5 for d in draws)
    assert within(draws, 0.1, 0.05) > 0.6  # within 10% of the range: sd 5% of it, so about 68%
    assert within([sample_prior(flat, rng) for _ in range(500)], 0.1, 0.05) < 0.3  # uniform: 20%
    weak = [sample_prior(entry("dropout", DROP, {"value": 0.1, "confidence": "low"}), rng) for _ in range(500)]
    assert within(weak, 0.1, 0.05) < within(draws, 0.1, 0.05)
    assert prior_density(strong, 0.1) > 5 and prior_density(flat, 0.1) == 1 and prior_density(strong, 0.45) < 0.1


def test_a_log_range_prior_is_centred_on_log_value_and_ints_keep_their_grid():
    rng = np.random.default_rng(1)
    lr = entry("learning_rate", LR, {"value": 1e-3, "confidence": "high"})
    logs = [math.log10(sample_prior(lr, rng)) for _ in range(500)]
    assert abs(float(np.median(logs)) + 3) < 0.05  # the median sits on 1e-3, not on the linear range's middle
    width = entry("width", {"type": "int", "low": 8, "high": 64, "step": 8}, {"value": 30, "confidence": "medium"})
    values = [sample_prior(width, rng) for _ in range(300)]
    assert set(values) <= set(range(8, 65, 8)) and all(type(v) is int for v in values)
    assert max(set(values), key=values.count) in (24, 32)


def test_categorical_weights_reproduce_their_proportions():
    rng = np.random.default_rng(2)
    p = entry("optimizer", OPT, {"weights": {"adam": 6, "sgd": 3, "rmsprop": 1}})
    draws = [sample_prior(p, rng) for _ in range(2000)]
    shares = [draws.count(c) / len(draws) for c in ("adam", "sgd", "rmsprop")]
    assert np.allclose(shares, [0.6, 0.3, 0.1], atol=0.04)
    assert prior_density(p, "adam") == pytest.approx(1.8) and prior_density(p, "nadam") == 0.0


def test_the_startup_trials_of_the_default_sampler_follow_the_prior():
    space = parse_space(with_(learning_rate={**LR, "prior": {"value": 1e-2, "confidence": "high"}},
                              optimizer={**OPT, "prior": {"weights": {"sgd": 1, "adam": 0, "rmsprop": 0}}}))
    study = optuna.create_study(direction="maximize", sampler=PriorTPESampler(space=space, seed=0,
                                                                              n_startup_trials=30))
    study.optimize(lambda t: -abs(math.log10(sample(t, space)["learning_rate"]) + 2.5), n_trials=30)
    lrs = [math.log10(t.params["learning_rate"]) for t in study.trials]
    assert {t.params["optimizer"] for t in study.trials} == {"sgd"}
    assert float(np.mean([abs(x + 2) <= 0.3 for x in lrs])) > 0.8  # 0.3 decades: 10% of the 3-decade range
    assert float(np.mean([abs(math.log10(t.params["width"]) - 1.35) <= 0.09 for t in study.trials])) < 0.6  # flat


def test_after_the_startup_tpe_models_complete_and_pruned_trials():
    space = parse_space(with_(optimizer={**OPT, "prior": {"weights": {"sgd": 1, "adam": 0, "rmsprop": 0}}}))
    sampler = PriorTPESampler(space=space, seed=0, n_startup_trials=3)
    study = optuna.create_study(sampler=sampler)
    for number in range(6):
        trial = study.ask()
        sample(trial, space)
        if number == 1:
            trial.report(0.5, step=1)
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        else:
            study.tell(trial, float(number))
    drawn = [t.params["optimizer"] for t in study.trials]
    assert drawn[:3] == ["sgd"] * 3  # the startup: the prior (complete and pruned trials both count)
    assert sampler._starting(study) is False


def test_the_default_sampler_is_the_prior_tpe_with_three_startup_trials():
    sampler = instantiate(compose(["+experiment=fashion_cnn"]).sampler)
    assert isinstance(sampler, PriorTPESampler) and sampler._n_startup_trials == 3
    assert sampler._space["learning_rate"].prior.value == 1e-3


@pytest.mark.parametrize("experiment", ["digits_cnn", "digits_tutorial", "fashion_cnn", "cifar_cnn", "images_cnn",
                                        "digits_mlp_vs_cnn", "fashion_mlp"])
def test_every_shipped_space_parses_with_its_priors(experiment):
    space = parse_space(compose([f"+experiment={experiment}"]).search.space)
    assert any(p.prior is not None for p in space.values())


def test_a_prior_does_not_change_the_study_fingerprint():
    plain = parse_space(BASE)
    guided = parse_space(with_(learning_rate={**LR, "prior": {"value": 1e-3}}))
    goals = [("val_accuracy", "maximize")]
    assert fingerprint(plain, goals) == fingerprint(guided, goals) and searched(plain, goals) == searched(guided, goals)
