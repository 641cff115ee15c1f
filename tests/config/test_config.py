from __future__ import annotations

import optuna
import pytest

from tuner.app import prepare
from tuner.config import compose, validate
from tuner.errors import ConfigError


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("search.n_trials=0", "search.n_trials=0"),
        ("search.n_workers=0", "search.n_workers=0"),
        ("search.timeout=-5", "search.timeout=-5"),
        ("search.metric=f1", "unknown metric 'f1' at search.metric; choose one of: val_accuracy"),
        ("search.direction=up", "unknown direction 'up' at search.direction"),
        ("data.val_fraction=0.9", "data.val_fraction=0.9"),
        ("model.builder=build", "model.builder='build': give <module>.<function>, e.g. model.builder=my_model.build"),
        ("model.builder=3", "model.builder=3: give <module>.<function>"),
        ("model.input_stage=maybe", "model.input_stage='maybe': give true"),
        ("model.input_stage=false", "model.input_stage=false applies to a builder of your own (model.builder=...)"),
    ],
)
def test_bad_values_are_rejected_before_loading(override, message):
    with pytest.raises(ConfigError) as err:
        validate(compose([override]))
    assert message in str(err.value)


@pytest.mark.parametrize("override", ["search.n_trial=3", "data.sorce=x", "sampler=annealing", "search.n_trials=many"])
def test_typos_fail_at_compose_time(override):
    with pytest.raises(ConfigError):
        compose([override])


def test_bad_sampler_argument_is_a_config_error():
    with pytest.raises(ConfigError, match="(?s)cannot build sampler .tuner.search.samplers.PriorTPESampler.: .*no_such_arg"):
        prepare(compose(["+sampler.no_such_arg=1"]))


@pytest.mark.parametrize("sampler", ["tpe", "random", "qmc"])
@pytest.mark.parametrize("pruner", ["median", "percentile", "successive_halving", "hyperband", "none"])
def test_every_sampler_and_pruner_group_builds(sampler, pruner):
    built = prepare(compose([f"sampler={sampler}", f"pruner={pruner}"]))
    built_sampler, built_pruner = built.sampler, built.pruner
    assert sampler[:3] in type(built_sampler).__name__.lower()  # tpe: PriorTPESampler
    expected = {"median": "MedianPruner", "percentile": "PercentilePruner", "successive_halving":
                "SuccessiveHalvingPruner", "hyperband": "HyperbandPruner", "none": "NopPruner"}[pruner]
    assert isinstance(built_pruner, optuna.pruners.BasePruner) and type(built_pruner).__name__ == expected


def test_seed_reaches_the_sampler():
    assert compose(["seed=42"]).sampler.seed == 42


def test_a_conf_folder_in_the_current_directory_adds_experiments_but_not_a_primary_config(workdir):
    (workdir / "conf/experiment").mkdir(parents=True)
    (workdir / "conf/sampler").mkdir()
    (workdir / "conf/experiment/my_exp.yaml").write_text(
        "# @package _global_\ndefaults:\n  - override /sampler: my_random\nname: my_exp\nsearch:\n  n_trials: 4\n")
    (workdir / "conf/sampler/my_random.yaml").write_text("_target_: optuna.samplers.RandomSampler\n")
    (workdir / "conf/config.yaml").write_text("name: hijacked\nseed: 99\n")
    cfg = compose(["+experiment=my_exp"])
    assert (cfg.name, cfg.search.n_trials, cfg.sampler._target_) == ("my_exp", 4, "optuna.samplers.RandomSampler")
    assert compose([]).name == "default" and compose([]).seed == 0  # tuner's config.yaml stays the primary one
    with pytest.raises(ConfigError, match="my_exp"):  # Hydra's list of the options names the user's experiment
        compose(["+experiment=my_exp_typo"])
