from __future__ import annotations

import optuna
import pytest

from tuner.config import compose
from tuner.errors import ConfigError
from tuner.search.sampling import sample, trial_seed
from tuner.search.space import first_values, parse_space

BASE = {
    "arch": "mlp", "width": {"type": "int", "low": 8, "high": 64, "log": True}, "depth": 2,
    "dropout": {"type": "float", "low": 0.0, "high": 0.5, "step": 0.1}, "activation": "relu",
    "initializer": "he_normal", "optimizer": {"type": "categorical", "choices": ["adam", "sgd"]},
    "learning_rate": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True}, "batch_size": 32, "epochs": 2,
}


def with_(**changes):
    return {**BASE, **changes}


def test_fixed_trial_draws_each_type():
    space = parse_space(BASE)
    hp = sample(optuna.trial.FixedTrial({"width": 16, "dropout": 0.2, "optimizer": "sgd", "learning_rate": 0.01}), space)
    assert hp == {"arch": "mlp", "width": 16, "depth": 2, "dropout": 0.2, "activation": "relu",
                  "initializer": "he_normal", "optimizer": "sgd", "learning_rate": 0.01, "batch_size": 32, "epochs": 2}


def test_sampled_values_respect_ranges_log_and_step():
    space = parse_space(BASE)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    for _ in range(30):
        hp = sample(study.ask(), space)
        assert 8 <= hp["width"] <= 64 and isinstance(hp["width"], int)
        assert round(hp["dropout"] * 10, 6) == round(hp["dropout"] * 10) and 0 <= hp["dropout"] <= 0.5
        assert 1e-4 <= hp["learning_rate"] <= 1e-1
    dist = study.trials[0].distributions
    assert dist["width"].log and dist["learning_rate"].log


def test_cnn_only_parameters_exist_only_for_cnn_trials():
    space = parse_space(compose(["search/space=mlp_vs_cnn"]).search.space)
    mlp = sample(optuna.trial.FixedTrial({"arch": "mlp", "width": 40, "depth": 1, "dropout": 0.1, "optimizer": "adam",
                                          "learning_rate": 1e-3, "batch_size": 32}), space)
    assert mlp["arch"] == "mlp" and "filters" not in mlp and "padding" not in mlp
    cnn = sample(optuna.trial.FixedTrial({"arch": "cnn", "width": 40, "depth": 1, "dropout": 0.1, "optimizer": "adam",
                                          "learning_rate": 1e-3, "batch_size": 32, "filters": 16,
                                          "kernel_size": 3, "pooling": "max"}), space)
    assert cnn["filters"] == 16 and cnn["padding"] == "same" and cnn["batch_norm"] is False


def test_explicit_when_condition():
    space = parse_space(with_(dropout={"type": "float", "low": 0.1, "high": 0.5, "when": {"depth": [3, 4]}}))
    assert "dropout" not in sample(optuna.trial.FixedTrial({"width": 8, "optimizer": "adam", "learning_rate": 0.01}), space)


def test_plain_value_on_the_command_line_pins_a_parameter():
    cfg = compose(["search.space.epochs=2", "search.space.optimizer=sgd"])
    space = parse_space(cfg.search.space)
    assert space["epochs"].type == "fixed" and space["epochs"].value == 2
    assert space["optimizer"].value == "sgd"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"width": {"type": "int", "low": 64, "high": 8}}, "search.space.width: low=64 is greater than high=8"),
        ({"dropout": {"type": "float", "low": 0.0, "high": 0.5, "log": True}}, "search.space.dropout: log scale needs low > 0"),
        ({"optimizer": {"type": "categorical", "choices": ["adam", "adamm"]}},
         "unknown value 'adamm' at search.space.optimizer; choose one of: sgd, sgd_momentum"),
        ({"initializer": "xavier"}, "unknown value 'xavier' at search.space.initializer; choose one of: zeros"),
        ({"widht": 10}, "unknown hyperparameter 'widht' at search.space.widht; choose among: arch, width"),
        ({"width": {"type": "int", "low": 8, "high": 64, "choices": [1]}}, "replace the whole spec"),
        ({"width": {"type": "integer", "low": 8, "high": 64}}, "unknown type 'integer' at search.space.width.type"),
        ({"width": {"type": "int", "low": 8, "hihg": 64}}, "unknown field(s) ['hihg'] at search.space.width"),
        ({"depth": 2.5}, "search.space.depth must be a whole number"),
        ({"dropout": 1.5}, "search.space.dropout=1.5 is out of range"),
        ({"arch": "cnn"}, "search.space is missing filters, kernel_size, pooling, padding, batch_norm"),
        ({"width": {"type": "int", "low": 8, "high": 64, "when": {"nope": 1}}}, "names unknown hyperparameter 'nope'"),
        ({"lr_schedule": {"type": "categorical", "choices": ["cosine", "step"]}},
         "unknown value 'step' at search.space.lr_schedule; choose one of: none, cosine, one_cycle, reduce_on_plateau"),
        ({"patience": -1}, "search.space.patience=-1 is out of range [0, inf]"),
        ({"block": "triple"}, "unknown value 'triple' at search.space.block; choose one of: single, double"),
        ({"head": "avg"}, "unknown value 'avg' at search.space.head; choose one of: flatten, gap"),
        ({"filters_growth": 3}, "unknown value 3 at search.space.filters_growth; choose one of: 1, 2"),
        ({"jit_compile": "yes"}, "unknown value 'yes' at search.space.jit_compile; choose one of: False, True"),
        ({"batch_norm_momentum": 1.0}, "search.space.batch_norm_momentum=1.0 is out of range [0.0, 0.999]"),
    ],
)
def test_bad_space_is_rejected_naming_the_key(change, message):
    with pytest.raises(ConfigError) as err:
        parse_space(with_(**change))
    assert message in str(err.value)


def test_missing_entry_is_named():
    raw = dict(BASE)
    del raw["epochs"]
    with pytest.raises(ConfigError, match="missing epochs"):
        parse_space(raw)


def test_trial_seeds_are_distinct_and_stable():
    seeds = [trial_seed(0, n) for n in range(100)]
    assert len(set(seeds)) == 100 and seeds == [trial_seed(0, n) for n in range(100)]
    assert trial_seed(1, 0) != trial_seed(0, 0)


USERS = {"optimizer": "adam", "learning_rate": 1e-3, "batch_size": 32, "epochs": 1}


def test_with_a_users_builder_keys_of_its_own_are_allowed_and_drawn():
    space = parse_space({**USERS, "blocks": {"type": "int", "low": 1, "high": 4}, "kind": "wide",
                         "mix": {"type": "categorical", "choices": ["a", 2]}, "rate": {"type": "float", "low": 0.1,
                                                                                    "high": 0.9, "log": True},
                         "extra": {"type": "int", "low": 2, "high": 3, "when": {"kind": "wide"}},
                         "filters": {"type": "int", "low": 4, "high": 8}}, user_builder=True)
    assert space["blocks"].type == "int" and space["kind"].value == "wide" and space["mix"].choices == ("a", 2)
    assert space["filters"].when == {}, "a user's builder reads filters without an implicit arch=cnn"
    hp = sample(optuna.trial.FixedTrial({"blocks": 3, "mix": 2, "rate": 0.5, "extra": 2, "filters": 4}), space)
    assert hp["blocks"] == 3 and hp["mix"] == 2 and hp["extra"] == 2
    assert first_values(space) == {**USERS, "blocks": 1, "kind": "wide", "mix": "a", "rate": 0.1, "extra": 2,
                                   "filters": 4}


def test_without_a_users_builder_a_key_of_its_own_stays_an_error_naming_the_hook():
    with pytest.raises(ConfigError, match="unknown hyperparameter 'blocks' at search.space.blocks; .*a key of your "
                                          "own needs a builder of your own: model.builder=<module>.<function>"):
        parse_space({**BASE, "blocks": {"type": "int", "low": 1, "high": 4}})


@pytest.mark.parametrize(("entry", "message"), [
    ({"type": "int", "low": 4, "high": 1}, "search.space.blocks: low=4 is greater than high=1; swap them"),
    ({"type": "int", "low": 1.5, "high": 4}, "search.space.blocks.low must be a whole number, got 1.5"),
    ({"type": "float", "low": "a", "high": 4}, "search.space.blocks.low must be a number, got 'a'"),
    ({"type": "int", "low": 0, "high": 4, "log": True}, "search.space.blocks: log scale needs low > 0"),
    ({"type": "categorical", "choices": []}, "search.space.blocks.choices must be a non-empty list"),
    ({"type": "integer", "low": 1, "high": 4}, "unknown type 'integer' at search.space.blocks.type"),
    ([1, 2], "search.space.blocks=[1, 2]: pin a number, a string or true/false, or give a spec"),
])
def test_a_users_key_is_checked_by_type_and_range(entry, message):
    with pytest.raises(ConfigError) as err:
        parse_space({**USERS, "blocks": entry}, user_builder=True)
    assert message in str(err.value)


def test_a_users_builder_needs_only_the_training_keys_and_tuners_keys_keep_their_checks():
    with pytest.raises(ConfigError, match="search.space is missing epochs"):
        parse_space({k: v for k, v in USERS.items() if k != "epochs"}, user_builder=True)
    with pytest.raises(ConfigError, match="unknown value 'adamm' at search.space.optimizer"):
        parse_space({**USERS, "optimizer": "adamm"}, user_builder=True)
