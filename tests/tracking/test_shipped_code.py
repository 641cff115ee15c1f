"""A model whose custom layer comes from a user's module (model.builder) is logged with that module in its
``code/`` folder: tuner's own loader and ``mlflow.pyfunc`` in a fresh process without the module on its path
load it, with Keras' safe mode on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest

from tuner.tracking import Tracker
from tuner.tracking.logged_model import card_for

from .test_logged_model import SHAPE, tiny_data

MODULE = '''
import keras


@keras.saving.register_keras_serializable(package="doubling")
class Double(keras.layers.Layer):
    def call(self, x):
        return 2.0 * x
'''
LOAD = """
import json, sys
import mlflow, numpy as np
mlflow.set_tracking_uri(sys.argv[1])
model = mlflow.pyfunc.load_model(f"models:/{sys.argv[2]}")
probs = np.asarray(model.predict(np.full((2, 8, 8, 1), 255, np.uint8))).tolist()
print("RESULT " + json.dumps({"module": sys.modules["doubling"].__file__, "probs": probs,
                             "tuner": sorted(m for m in sys.modules if m == "tuner" or m.startswith("tuner."))}))
"""


@pytest.mark.slow  # loads the model again in a fresh process
def test_a_custom_layers_module_travels_with_the_model_and_loads_it_anywhere(tmp_path, monkeypatch):
    home = tmp_path / "project"
    home.mkdir()
    (home / "doubling.py").write_text(textwrap.dedent(MODULE))
    monkeypatch.syspath_prepend(str(home))
    monkeypatch.delitem(sys.modules, "doubling", raising=False)
    import doubling

    inputs = keras.Input(SHAPE)
    x = keras.layers.Flatten()(doubling.Double()(keras.layers.Rescaling(1 / 255)(inputs)))
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x))
    card = card_for(tiny_data(), "scale", ("doubling",), (str(home / "doubling.py"),))
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    tracker = Tracker(uri, "shipped")
    run = tracker.start_trial(tracker.open_parent(None, "study"), 0, {"blocks": 1}, {})
    model_id = tracker.log_model(run, model, card)
    images = np.full((2, *SHAPE), 255, np.uint8)
    expected = model.predict(images, verbose=0)

    monkeypatch.delitem(sys.modules, "doubling")
    sys.path.remove(str(home))
    loaded = tracker.load_model(model_id, tmp_path / "download")
    assert Path(sys.modules["doubling"].__file__).parent.name == "code", "imported from the model's code/"
    assert any(type(la).__name__ == "Double" for la in loaded.layers)
    np.testing.assert_allclose(loaded.predict(images, verbose=0), expected, rtol=1e-5)

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # a model server needs no tuner
    done = subprocess.run([sys.executable, "-c", LOAD, uri, model_id], cwd=elsewhere, env=env, capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(next(line for line in done.stdout.splitlines() if line.startswith("RESULT "))[7:])
    module = Path(result["module"])
    assert module.parent.name == "code" and not module.is_relative_to(home)
    np.testing.assert_allclose(np.asarray(result["probs"]), expected, atol=1e-5)
    assert result["tuner"] == [], "the loader that travels with the model imports no tuner"


@pytest.mark.parametrize("modules", [(), ("doubling",)])
def test_the_mlmodel_names_the_modules_and_the_loader_only_when_there_is_code(modules):
    from tuner.tracking.logged_model import metadata

    card = card_for(tiny_data(), "scale", modules, ())
    assert ("custom_modules" in metadata(card)) == bool(modules)
