"""A study knows what it was trained on: resuming, joining or exporting it with other data or settings is refused,
naming each key with its stored and its current value. Real journal storage, real data; no training here."""

from __future__ import annotations

import logging
import threading
import time

import optuna
import pytest

from tuner import app
from tuner.data import load_dataset
from tuner.errors import ConfigError, TunerError
from tuner.models import build_model
from tuner.runner.optimize import open_tracked, prepare
from tuner.search import parse_space
from tuner.study import fingerprint, join_study, storage_for, trained_on
from tuner.study.records import FINGERPRINT, TRAINED_ON
from tuner.submission.export import check_fits

FIX = r"name=<new name>, or delete this one: `python -m tuner.studies delete digits_mlp` \(or remove .*study.journal\)"


def open_with_data(cfg) -> optuna.Study:
    """What a run does before its first trial: prepare, load the data, join the study."""
    plan = app.plan(cfg)
    return open_tracked(plan, prepare(plan), load_dataset(plan.data, plan.seed))[0]


def legacy_study(cfg) -> optuna.Study:
    """A study as tuner made it before it recorded its data: only the hash of its space and objectives."""
    plan = app.plan(cfg)
    study = optuna.create_study(study_name=plan.study.name, storage=storage_for(plan.study),
                                directions=[d for _, d in plan.goals])
    study.set_user_attr(FINGERPRINT, fingerprint(parse_space(plan.search.space), plan.goals))
    return study


def test_a_run_records_what_it_was_trained_on(make_cfg):
    study = open_with_data(make_cfg("+experiment=digits_mlp"))
    parts = study.user_attrs[TRAINED_ON]
    assert parts["data.name"] == "digits" and parts["data.source"] == "mnist5k" and parts["seed"] == 0
    assert parts["data.input_shape"] == [28, 28, 1] and parts["data.max_samples"] == 400
    assert parts["data.sizes"] == {"train": 279, "val": 61, "test": 60} and len(parts["data.digest"]) == 64
    assert parts["model._target_"] == "tuner.models.build_model" and parts["search.metric"] == ["val_accuracy"]


def test_resuming_on_another_source_is_refused_naming_it_and_the_shape(make_cfg):
    open_with_data(make_cfg("+experiment=digits_mlp"))
    with pytest.raises(ConfigError) as refused:
        open_with_data(make_cfg("+experiment=digits_mlp", "data.source=sklearn8x8"))
    message = str(refused.value)
    assert 'data.source ("mnist5k", now "sklearn8x8")' in message
    assert "data.input_shape ([28, 28, 1], now [8, 8, 1])" in message
    assert 'data.digest ("' in message and "seed" not in message
    assert refused.match(FIX)


@pytest.mark.parametrize("override, shown", [
    ("seed=7", "seed (0, now 7)"),
    ("data.val_fraction=0.2", "data.val_fraction (0.15, now 0.2)"),
    ("data.max_samples=500", "data.max_samples (400, now 500)"),
    ("data.test_fraction=0.2", "data.test_fraction (0.15, now 0.2)"),
])
def test_resuming_with_another_seed_or_split_is_refused_naming_it(make_cfg, override, shown):
    app.join_study(make_cfg("+experiment=digits_mlp"))
    with pytest.raises(ConfigError, match=r"was run with a different " + shown.replace("(", r"\(").replace(")", r"\)")
                       + ".*" + FIX):
        app.join_study(make_cfg("+experiment=digits_mlp", override))


def test_where_the_data_lies_and_how_trials_run_may_change(make_cfg, tmp_path):
    open_with_data(make_cfg("+experiment=digits_mlp"))
    again = open_with_data(make_cfg("+experiment=digits_mlp", f"data.cache_dir={tmp_path / 'other-cache'}",
                                    "device=cpu", "sampler=random", "search.n_trials=7"))
    assert again.user_attrs[TRAINED_ON]["data.source"] == "mnist5k"


def test_parts_a_study_lacks_are_added_when_a_run_knows_them(make_cfg):
    cfg = make_cfg("+experiment=digits_mlp")
    assert "data.digest" not in app.join_study(cfg).user_attrs[TRAINED_ON]  # joined without loading the data
    assert len(open_with_data(cfg).user_attrs[TRAINED_ON]["data.digest"]) == 64
    with pytest.raises(ConfigError, match=r"data.source \(\"mnist5k\", now \"sklearn8x8\"\)"):
        open_with_data(make_cfg("+experiment=digits_mlp", "data.source=sklearn8x8"))


def test_a_study_made_before_the_parts_adopts_them_at_its_first_resume(make_cfg, caplog):
    cfg = make_cfg("+experiment=digits_mlp")
    legacy_study(cfg)
    with caplog.at_level(logging.WARNING, logger="tuner.study.fingerprint"):
        study = open_with_data(cfg)
    assert "made by an older tuner" in caplog.text and 'data.source="mnist5k"' in caplog.text
    assert study.user_attrs[TRAINED_ON]["data.input_shape"] == [28, 28, 1]
    assert study.user_attrs[FINGERPRINT] == fingerprint(parse_space(app.plan(cfg).search.space), app.plan(cfg).goals)
    with pytest.raises(ConfigError, match=r"data.source \(\"mnist5k\", now \"sklearn8x8\"\)"):
        open_with_data(make_cfg("+experiment=digits_mlp", "data.source=sklearn8x8"))


def test_a_study_made_before_the_parts_with_another_space_is_refused(make_cfg):
    study = legacy_study(make_cfg("+experiment=digits_mlp"))
    with pytest.raises(ConfigError, match=r"different search.space \(fingerprint [0-9a-f]{16}, now .*" + FIX):
        open_with_data(make_cfg("+experiment=digits_mlp", "search.space.width={type:int,low:8,high:32}"))
    assert TRAINED_ON not in study.user_attrs  # refused: nothing adopted


def test_a_joiner_waits_for_the_creator_to_record_the_parts(make_cfg):
    plan = app.plan(make_cfg("+experiment=digits_mlp"))
    study = optuna.create_study(study_name=plan.study.name, storage=storage_for(plan.study), direction="maximize")
    theirs = {"seed": 1}
    timer = threading.Timer(0.5, lambda: study.set_user_attr(TRAINED_ON, theirs))  # the creator, a moment late
    timer.start()
    start = time.monotonic()
    with pytest.raises(ConfigError, match=r"seed \(1, now 0\)"):
        join_study(plan.study, plan.goals, parse_space(plan.search.space), trained=trained_on(plan.data, 0, plan.model))
    timer.join()
    assert time.monotonic() - start >= 0.5


def test_a_model_for_other_images_is_a_clear_export_error(make_cfg):
    data = load_dataset(app.plan(make_cfg("+experiment=digits_mlp", "data.source=sklearn8x8")).data, seed=0)
    hp = {"arch": "mlp", "width": 8, "depth": 1, "dropout": 0.0, "activation": "relu", "initializer": "he_normal"}
    model = build_model(hp, (28, 28, 1), 10, None)
    with pytest.raises(TunerError, match=r"trial 4 of study 'digits_mlp' has a model for images of shape "
                                         r"\(28, 28, 1\), but the data configured now has shape \(8, 8, 1\).*"
                                         r"name=<new name>"):
        check_fits(model, data, "digits_mlp", 4)
    check_fits(build_model(hp, (8, 8, 1), 10, None), data, "digits_mlp", 4)  # the data's own shape fits
