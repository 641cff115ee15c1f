"""A user's own builder (model.builder): imported from the current folder, wrapped in tuner's input stage,
compiled by tuner unless it compiled itself, checked once before the first trial, its failures named."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest

from tuner.errors import ConfigError, TrialFailed
from tuner.models.custom import UserBuilder, load_function, model_builder, probe, shipped, shipped_code

HP = {"blocks": 2, "filters": 4, "preprocess": "scale", "augment_shift": 0.1}
MODULE = '''
import keras
from keras import layers

NOT_A_FUNCTION = 3


def build(hp, input_shape, n_classes):
    inputs = keras.Input(shape=input_shape)
    x = inputs
    for _ in range(hp["blocks"]):
        x = layers.Conv2D(hp["filters"], 3, padding="same", activation="relu")(x)
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, layers.Dense(n_classes, activation="softmax")(x), name="users")


def compiled(hp, input_shape, n_classes):
    model = build(hp, input_shape, n_classes)
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss="sparse_categorical_crossentropy")
    return model


def three_units(hp, input_shape, n_classes):
    return build(hp, input_shape, 3)


def raises(hp, input_shape, n_classes):
    raise ValueError("no model for blocks=%d" % hp["blocks"])


def not_a_model(hp, input_shape, n_classes):
    return "a string"
'''


@pytest.fixture(autouse=True)
def fresh_modules(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test imports its own copy of the users' modules (from its own folder)."""
    for name in ("users_model", "users_pkg", "users_pkg.nets", "flat_model", "broken_model"):
        monkeypatch.delitem(sys.modules, name, raising=False)


@pytest.fixture
def users(workdir: Path) -> Path:
    """``users_model.py`` in the current folder, as a user keeps their builder beside their conf/."""
    path = workdir / "users_model.py"
    path.write_text(textwrap.dedent(MODULE))
    return path


def test_a_builder_in_the_current_folder_imports_and_gets_tuners_input_stage(users):
    builder = model_builder({"_target_": "tuner.models.build_model", "_partial_": True,
                             "builder": "users_model.build", "input_stage": True})
    assert isinstance(builder, UserBuilder)
    model = builder(HP, (8, 8, 1), 5)
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds[:3] == ["InputLayer", "RandomTranslation", "Rescaling"] and kinds[-1] == "Functional"
    assert model.output_shape == (None, 5) and not model.compiled
    assert builder.modules == ("users_model",) and builder.code == (str(users),)
    assert shipped(builder) == (("users_model",), (str(users),))
    probs = model.predict(np.full((2, 8, 8, 1), 255, np.uint8), verbose=0)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)


def test_without_the_input_stage_the_users_model_is_the_model(users):
    model = UserBuilder("users_model.build", with_input_stage=False)(HP, (8, 8, 1), 5)
    assert model.name == "users" and [type(la).__name__ for la in model.layers][1] == "Conv2D"


def test_a_compiled_model_keeps_its_optimizer_and_gains_accuracy(users):
    model = UserBuilder("users_model.compiled")(HP, (8, 8, 1), 5)
    assert model.compiled and isinstance(model.optimizer, keras.optimizers.SGD)
    assert float(model.optimizer.learning_rate) == pytest.approx(0.5)
    model.fit(np.zeros((4, 8, 8, 1), np.uint8), np.zeros(4, np.int64), verbose=0)
    assert "accuracy" in model.get_metrics_result()


def test_tuners_own_builder_is_the_default_and_not_wrapped():
    from tuner.models import build_model

    builder = model_builder({"_target_": "tuner.models.build_model", "_partial_": True, "builder": None,
                             "input_stage": True})
    assert builder.func is build_model and shipped(builder) == ((), ())
    named = model_builder({"_target_": "tuner.models.build_model", "_partial_": True,
                           "builder": "tuner.models.build_model"})
    assert named.func is build_model


@pytest.mark.parametrize(("path", "message"), [
    ("no_such_module.build", ("model.builder=no_such_module.build: cannot import module 'no_such_module' "
                              "(ModuleNotFoundError")),
    ("users_model.nope", "model.builder=users_model.nope: module 'users_model' ("),
    ("users_model.NOT_A_FUNCTION", ("model.builder=users_model.NOT_A_FUNCTION: 'NOT_A_FUNCTION' is a int, not a "
                                    "function; name a function build(hp, input_shape, n_classes)")),
    ("build", "model.builder=build: give <module>.<function>"),
])
def test_a_builder_that_does_not_import_or_is_no_function_is_a_config_error(users, path, message):
    with pytest.raises(ConfigError) as err:
        load_function(path)
    assert message in str(err.value)
    if "no_such_module" in path:
        assert "put no_such_module.py in the current folder" in str(err.value)


def test_a_module_that_fails_to_import_is_named(workdir):
    (workdir / "broken_model.py").write_text("raise RuntimeError('half-written')\n")
    with pytest.raises(ConfigError, match="cannot import module 'broken_model' .RuntimeError: half-written"):
        load_function("broken_model.build")


@pytest.mark.parametrize(("name", "message"), [
    ("three_units", ("model.builder=users_model.three_units returned a model whose output has 3 units; it must end "
                     "in one output of n_classes=5 units")),
    ("raises", "model.builder=users_model.raises raised ValueError: no model for blocks=2"),
    ("not_a_model", "model.builder=users_model.not_a_model returned a str, not a keras.Model"),
])
def test_a_builder_that_fails_is_a_trial_failure_and_before_the_first_trial_a_config_error(users, name, message):
    builder = UserBuilder(f"users_model.{name}")
    with pytest.raises(TrialFailed) as failed:
        builder(HP, (8, 8, 1), 5)
    assert message in str(failed.value)
    with pytest.raises(ConfigError) as err:
        probe(builder, HP, (8, 8, 1), 5)
    assert message in str(err.value) and "before the first trial" in str(err.value)


def test_a_model_that_cannot_take_the_input_stage_is_a_config_error_naming_the_switch(workdir):
    (workdir / "flat_model.py").write_text(textwrap.dedent('''
        import keras
        def build(hp, input_shape, n_classes):
            inputs = keras.Input(shape=(7,))
            return keras.Model(inputs, keras.layers.Dense(n_classes, activation="softmax")(inputs))
    '''))
    with pytest.raises(ConfigError, match="model.builder=flat_model.build: its model cannot be built on tuner's "
                                          "input stage .*model.input_stage=false"):
        probe(UserBuilder("flat_model.build"), HP, (8, 8, 1), 5)


def test_a_package_ships_its_whole_folder(workdir):
    package = workdir / "users_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "nets.py").write_text(textwrap.dedent(MODULE))
    builder = UserBuilder("users_pkg.nets.build")
    assert builder.modules == ("users_pkg.nets",) and builder.code == (str(package),)
    assert shipped_code("json")[0].endswith("json")  # a package of the standard library: its folder
