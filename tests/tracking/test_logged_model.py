"""A trial's model as an MLflow model: the signature, metadata and pinned requirements built from plain data, and
``Tracker`` logging a real (tiny, untrained) Keras model to a real SQLite store, loading it back, and keeping the
trial's outcome when its model cannot be logged."""

from __future__ import annotations

import dataclasses
import json
from importlib.metadata import version

import keras
import mlflow
import numpy as np
import pytest
from mlflow.entities import LoggedModelStatus

from tuner.data import Dataset
from tuner.study.records import TAG_MODEL_ERROR, TAG_STATE
from tuner.tracking import Tracker
from tuner.tracking.logged_model import EXAMPLE_IMAGES, ModelCard, card_for, metadata, requirements, signature
from tuner.tracking.registry import register_model

SHAPE = (8, 8, 1)


def tiny_data() -> Dataset:
    rng = np.random.RandomState(0)
    x = rng.randint(0, 256, (20, *SHAPE)).astype(np.uint8)
    y = np.arange(20) % 3
    return Dataset(x[:10], y[:10], x[10:], y[10:], x[:4], None, ("a", "b", "c", "d"), 3)


def tiny_model() -> keras.Model:
    inputs = keras.Input(SHAPE)
    x = keras.layers.Flatten()(keras.layers.Rescaling(1 / 255)(inputs))
    return keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x))


def test_the_card_describes_raw_uint8_pixels_in_and_probabilities_out():
    data = tiny_data()
    card = card_for(data, "center")
    assert card.example.dtype == np.uint8 and card.example.shape == (EXAMPLE_IMAGES, *SHAPE)
    np.testing.assert_array_equal(card.example, data.x_val[:EXAMPLE_IMAGES])  # real validation images
    sig = signature(card)
    (inp,), (out,) = sig.inputs.inputs, sig.outputs.inputs
    assert (inp.type, inp.shape) == (np.dtype(np.uint8), (-1, *SHAPE))
    assert (out.type, out.shape) == (np.dtype(np.float32), (-1, 3))
    meta = metadata(card)
    assert meta["class_names"] == ["0", "1", "2"] and meta["input"] == {"dtype": "uint8", "shape": list(SHAPE),
                                                                       "range": [0, 255]}
    assert meta["preprocessing"]["inside_model"] == "center"
    named = ModelCard(SHAPE, 2, card.example, "scale", ("cat", "dog"))
    assert metadata(named)["class_names"] == ["cat", "dog"]
    folders = dataclasses.replace(data, class_names=("cat", "dog", "owl"))
    assert metadata(card_for(folders, "scale"))["class_names"] == ["cat", "dog", "owl"]  # the data's names travel


def test_requirements_pin_the_installed_versions_of_the_backend_in_use():
    assert requirements("tensorflow") == (f"keras=={version('keras')}", f"tensorflow=={version('tensorflow')}",
                                          f"mlflow=={version('mlflow')}")
    with pytest.raises(ValueError, match=r"unknown Keras backend 'theano' \(KERAS_BACKEND\); choose one of"):
        requirements("theano")


def test_a_trial_model_is_a_logged_model_of_its_run_with_its_metrics_that_loads_back(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    tracker = Tracker(uri, "logged")
    parent = tracker.open_parent(None, "study")
    child = tracker.start_trial(parent, 0, {"width": 8}, {})
    model, data = tiny_model(), tiny_data()
    tracker.end_trial(child, "COMPLETE", {"final_val_accuracy": 0.75, "n_params": 195.0}, None, model,
                      card_for(data, "scale"))
    model_id = tracker.trial_model(child)
    assert model_id is not None
    logged = tracker.client.get_logged_model(model_id)
    assert logged.source_run_id == child and logged.status == LoggedModelStatus.READY
    assert {m.key: m.value for m in logged.metrics} == {"final_val_accuracy": 0.75, "n_params": 195.0}
    assert logged.params == {"width": "8"}
    run = tracker.client.get_run(child)
    assert run.info.status == "FINISHED" and run.data.metrics["final_val_accuracy"] == 0.75
    expected = model.predict(data.x_test, verbose=0)
    loaded = tracker.load_model(model_id, tmp_path / "download")
    np.testing.assert_allclose(loaded.predict(data.x_test, verbose=0), expected, atol=1e-6)
    version = register_model(tracker, "tuner-logged", model_id, child, {"tuner.trial": "0"})
    links = tracker.client.get_logged_model(model_id).tags["mlflow.modelVersions"]
    assert json.loads(links) == [{"name": "tuner-logged", "version": version}]  # what MLflow's UI links by
    mlflow.set_tracking_uri(uri)
    served = mlflow.pyfunc.load_model(f"models:/tuner-logged/{version}").predict(data.x_test)
    np.testing.assert_allclose(served, expected, atol=1e-6)


def test_a_model_that_cannot_be_logged_leaves_the_trial_complete_and_says_why(tmp_path):
    tracker = Tracker(f"sqlite:///{tmp_path / 'mlflow.db'}", "broken")
    child = tracker.start_trial(tracker.open_parent(None, "study"), 0, {}, {})
    tracker.end_trial(child, "COMPLETE", {"final_val_accuracy": 0.5}, None, object(), card_for(tiny_data(), "scale"))
    run = tracker.client.get_run(child)
    assert run.info.status == "FINISHED" and run.data.tags[TAG_STATE] == "COMPLETE"
    assert run.data.tags[TAG_MODEL_ERROR].startswith("AttributeError")
    assert tracker.trial_model(child) is None
    assert list(tracker.client.search_logged_models([tracker.experiment_id])) == []  # saved first: none begun
