"""The KerasTuner side of bench/vs_kerastuner: a tuner space translated, built, fitted and stopped on time."""

from __future__ import annotations

import json
import time

import keras_tuner
import numpy as np
import pytest
from bench.vs_kerastuner.__main__ import json_rows, main, report, summary, task_overrides
from bench.vs_kerastuner.race import Result, max_epochs
from bench.vs_kerastuner.timed import Clock, run_until_deadline, timed
from bench.vs_kerastuner.translate import TunerHyperModel, declare

from tuner.data import Dataset
from tuner.search.space import parse_space

# every kind of entry: log int, stepped int, stepped / log / plain float, categorical, bool, fixed,
# CNN-only (implicit when arch=cnn) and a two-level condition (pool_last exists only with batch norm)
SPACE = {
    "arch": {"type": "categorical", "choices": ["mlp", "cnn"]},
    "width": {"type": "int", "low": 8, "high": 32, "log": True},
    "depth": {"type": "int", "low": 1, "high": 3, "step": 2},
    "dropout": {"type": "float", "low": 0.0, "high": 0.5, "step": 0.1},
    "learning_rate": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True},
    "augment_shift": {"type": "float", "low": 0.0, "high": 0.1},
    "activation": "relu",
    "initializer": "he_normal",
    "optimizer": {"type": "categorical", "choices": ["adam", "sgd"]},
    "batch_size": 16,
    "epochs": 2,
    "filters": {"type": "categorical", "choices": [4, 8]},
    "kernel_size": {"type": "int", "low": 2, "high": 3},
    "pooling": {"type": "categorical", "choices": ["max", "avg"]},
    "padding": "same",
    "batch_norm": {"type": "categorical", "choices": [True, False]},
    "pool_last": {"type": "categorical", "choices": [True, False], "when": {"batch_norm": True}},
}


def tiny_data(n: int = 48) -> Dataset:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(n, 8, 8, 1), dtype=np.uint8)
    y = np.arange(n) % 3
    return Dataset(x, y, x[:12], y[:12], x[:12], y[:12], tuple(str(i) for i in range(12)), 3)


def declared(space: dict, **values) -> keras_tuner.HyperParameters:
    """The space declared on fresh hyperparameters, then ``values`` set (the rest at their defaults), as
    KerasTuner's oracle fills in every entry before a build."""
    hp = keras_tuner.HyperParameters()
    declare(hp, space)
    for h in hp.space:
        hp.values.setdefault(h.name, h.default)
    hp.values.update(values)
    return hp


def conditions(hp: keras_tuner.HyperParameters, name: str) -> dict[str, list]:
    found = next(h for h in hp.space if h.name == name)
    return {c.name: list(c.values) for c in found.conditions}


def test_every_entry_becomes_a_kerastuner_hyperparameter_with_its_range_and_condition() -> None:
    hp = keras_tuner.HyperParameters()
    declare(hp, parse_space(SPACE))
    got = {h.name: h for h in hp.space}
    assert set(got) == set(SPACE)
    width, depth, dropout, rate, shift = (got[k].get_config() for k in
                                          ("width", "depth", "dropout", "learning_rate", "augment_shift"))
    assert (width["min_value"], width["max_value"], width["sampling"]) == (8, 32, "log")
    assert (depth["min_value"], depth["max_value"], depth["step"], depth["sampling"]) == (1, 3, 2, "linear")
    assert (dropout["min_value"], dropout["max_value"], dropout["step"]) == (0.0, 0.5, 0.1)
    assert (rate["min_value"], rate["max_value"], rate["sampling"]) == (1e-4, 1e-2, "log")
    assert (shift["step"], shift["sampling"]) == (None, "linear")
    assert got["optimizer"].values == ["adam", "sgd"] and got["filters"].values == [4, 8]
    assert type(got["batch_norm"]).__name__ == "Boolean"
    assert type(got["activation"]).__name__ == "Fixed" and got["activation"].value == "relu"
    assert conditions(hp, "arch") == {} and conditions(hp, "width") == {}
    for name in ("filters", "kernel_size", "pooling", "padding", "batch_norm"):
        assert conditions(hp, name) == {"arch": ["cnn"]}, name
    assert conditions(hp, "pool_last") == {"arch": ["cnn"], "batch_norm": [True]}


def test_only_active_entries_reach_the_model_and_keep_their_types() -> None:
    space = parse_space(SPACE)
    mlp = declare(keras_tuner.HyperParameters(), space)
    assert mlp["arch"] == "mlp" and not {"filters", "batch_norm", "pool_last"} & set(mlp)
    hp = declared(space, arch="cnn", batch_norm=True, filters=8, pool_last=False)
    cnn = declare(hp, space)
    assert cnn["filters"] == 8 and cnn["batch_norm"] is True and cnn["pool_last"] is False
    hp.values["batch_norm"] = False
    assert "pool_last" not in declare(hp, space)


@pytest.mark.parametrize("arch", ["mlp", "cnn"])
def test_the_hypermodel_builds_and_fits_tuners_model(arch: str) -> None:
    data = tiny_data()
    hypermodel = TunerHyperModel(parse_space(SPACE), data.input_shape, data.n_classes)
    hp = declared(hypermodel.space, arch=arch, batch_norm=True)
    model = hypermodel.build(hp)
    assert model.output_shape == (None, 3)
    layers = {type(layer).__name__ for layer in model.layers}
    assert ("Conv2D" in layers) == (arch == "cnn") and ("BatchNormalization" in layers) == (arch == "cnn")
    history = hypermodel.fit(hp, model, data.x_train, data.y_train, validation_data=(data.x_val, data.y_val))
    assert len(history.history["val_accuracy"]) == 2  # the space's epochs
    hyperband = hypermodel.fit(hp, model, data.x_train, data.y_train, epochs=3, initial_epoch=2)
    assert len(hyperband.history["loss"]) == 1  # Hyperband's own epochs win


def test_a_schedule_spans_the_trials_planned_steps_on_the_kerastuner_side_too() -> None:
    """tuner's train sizes a cosine schedule to epochs x batches; KerasTuner's fit must do the same,
    or the rate reaches zero after the first step and KerasTuner's trials barely train."""
    data = tiny_data()
    hypermodel = TunerHyperModel(parse_space({**SPACE, "arch": "mlp", "lr_schedule": "cosine"}), data.input_shape,
                                 data.n_classes)
    hp = declared(hypermodel.space, arch="mlp")
    model = hypermodel.build(hp)
    hypermodel.fit(hp, model, data.x_train, data.y_train)
    steps = 2 * int(np.ceil(len(data.x_train) / 16))  # the space's epochs x batches of 16
    schedule = model.optimizer._learning_rate
    assert schedule.decay_steps == steps
    assert int(model.optimizer.iterations) == steps  # the rate reached zero at the last step, not the first


def test_a_kerastuner_search_stops_on_the_clock_and_counts_only_completed_trials(tmp_path) -> None:
    data = tiny_data()
    space = parse_space({**SPACE, "arch": "mlp"})  # 2 epochs a trial

    class SpentInSecondTrial(timed(keras_tuner.RandomSearch)):  # the budget runs out after trial 2's first epoch
        def on_epoch_end(self, trial, model, epoch, logs=None) -> None:
            super().on_epoch_end(trial, model, epoch, logs)
            if len(self.clock.records) == 1 and self.clock.epochs_in_trial == 1:
                self.clock.deadline = time.monotonic()

    start = time.monotonic()
    search = SpentInSecondTrial(
        hypermodel=TunerHyperModel(space, data.input_shape, data.n_classes), objective="val_accuracy",
        max_trials=10**6, seed=0, directory=str(tmp_path), overwrite=True, clock=Clock(start, start + 3600))
    clock = run_until_deadline(search, data.x_train, data.y_train, validation_data=(data.x_val, data.y_val))
    completed = [t for t in search.oracle.trials.values() if t.status == "COMPLETED"]
    assert len(clock.records) == len(completed) == 1 and len(search.oracle.trials) == 2
    assert clock.records[0].epochs == 2 and clock.cut_epochs == 1
    assert clock.records[0].score == completed[0].score
    assert 0 < clock.records[0].seconds < time.monotonic() - start


def test_no_kerastuner_trial_starts_after_the_deadline(tmp_path) -> None:
    data = tiny_data()
    start = time.monotonic()
    search = timed(keras_tuner.RandomSearch)(
        hypermodel=TunerHyperModel(parse_space({**SPACE, "arch": "mlp"}), data.input_shape, data.n_classes),
        objective="val_accuracy", max_trials=10**6, directory=str(tmp_path), overwrite=True,
        clock=Clock(start - 1, start))
    clock = run_until_deadline(search, data.x_train, data.y_train, validation_data=(data.x_val, data.y_val))
    assert clock.records == [] and all(t.status != "COMPLETED" for t in search.oracle.trials.values())


def test_figures_per_tool() -> None:
    assert max_epochs(parse_space(SPACE)) == 2
    assert max_epochs(parse_space({**SPACE, "epochs": {"type": "int", "low": 3, "high": 9}})) == 9
    a = Result("tuner", 3, 2, 30, 0.98, 0.97, 181.0, [(50.0, 0.95), (120.0, 0.98), (90.0, 0.97)])
    b = Result("kt-random", 2, 0, 20, 0.97, 0.96, 180.0, [(60.0, 0.97), (170.0, 0.96)])
    assert a.seconds_to(0.97) == 90.0 and b.seconds_to(0.98) is None
    text = report([a, b])
    assert "tuner reaches kt-random's best val 0.9700: after 90 s" in text
    assert "kt-random reaches tuner's best val 0.9800: never" in text
    assert task_overrides(["digits", "fashion"], ["fashion:data.max_samples=10", "seed=1"]) == {
        "digits": ["seed=1"], "fashion": ["data.max_samples=10", "seed=1"]}


def test_the_summary_over_seeds_averages_each_tool_and_counts_its_wins() -> None:
    seed0 = [Result("tuner", 3, 1, 30, 0.90, 0.88, 180.0), Result("kt-random", 2, 0, 20, 0.92, 0.88, 180.0)]
    seed1 = [Result("tuner", 3, 1, 30, 0.96, 0.91, 180.0), Result("kt-random", 2, 0, 20, 0.93, 0.90, 180.0)]
    lines = summary([seed0, seed1]).splitlines()
    assert lines[1].split() == ["tuner", "2", "0.9300", "0.8950", "1", "of", "2", "2", "of", "2"]
    assert lines[2].split() == ["kt-random", "2", "0.9250", "0.8900", "1", "of", "2", "1", "of", "2"]
    seed1[1].best_val = seed1[1].test_accuracy = None  # no trial completed on seed 1: no mean, no win there
    assert summary([seed0, seed1]).splitlines()[2].split() == ["kt-random", "2", "-", "-",
                                                               "1", "of", "2", "1", "of", "2"]


def test_the_json_rows_name_task_seed_and_tool_and_the_seconds_to_each_other_tools_best() -> None:
    tuner = Result("tuner", 3, 2, 30, 0.98, 0.97, 181.0, [(50.0, 0.95), (120.04, 0.98), (90.0, 0.97)])
    random = Result("kt-random", 2, 0, 20, 0.97, 0.96, 180.0, [(60.0, 0.97), (170.0, 0.96)])
    hyperband = Result("kt-hyperband", 0, 0, 4, None, None, 180.0)  # no trial completed in the budget
    rows = json_rows({"fashion": [[tuner, random, hyperband]], "digits_mlp": [[tuner, random, hyperband]]}, [7])
    keys = ["task", "seed", "tool", "complete", "pruned", "epochs", "best_val", "test", "seconds_to"]
    assert all(list(row) == keys for row in rows) and len(rows) == 6
    assert [(r["task"], r["seed"], r["tool"]) for r in rows[:3]] == [("fashion_cnn", 7, t) for t in
                                                                      ("tuner", "random", "hyperband")]
    assert rows[3]["task"] == "digits_mlp"
    assert rows[0] == {"task": "fashion_cnn", "seed": 7, "tool": "tuner", "complete": 3, "pruned": 2, "epochs": 30,
                       "best_val": 0.98, "test": 0.97,
                       "seconds_to": {"tuner": 120.0, "random": 90.0, "hyperband": None}}  # its own best too
    assert rows[1]["seconds_to"] == {"tuner": None, "random": 60.0, "hyperband": None}  # hyperband has no best
    assert rows[2]["seconds_to"] == {"tuner": None, "random": None, "hyperband": None} and rows[2]["best_val"] is None
    assert json.loads(json.dumps(rows)) == rows


@pytest.mark.parametrize(("argv", "message"), [
    (["--seeds", "0,x"], "error: --seeds '0,x': give whole numbers separated by commas"),
    (["--seeds", "0,1", "fashion:seed=2"], "error: --seeds sets seed= for each race: drop the seed= override"),
    (["--json", "rows.json"], "error: --json names each row's seed: give the seeds too, e.g. --seeds 0"),
    (["--seeds", "0", "--json", "{existing}"], "exists: a race's results are never overwritten; name a new file"),
])
def test_bad_seeds_and_json_files_are_refused_before_anything_runs(argv, message, capsys, tmp_path) -> None:
    existing = tmp_path / "done.json"
    existing.write_text("[]")
    with pytest.raises(SystemExit) as stop:
        main([a.format(existing=existing) for a in argv])
    assert stop.value.code == 2 and message in capsys.readouterr().err
