"""What makes a Keras model an MLflow model that ``mlflow.pyfunc`` loads and ``mlflow models serve`` serves:
its tensor signature (raw uint8 pixels in, float32 class probabilities out), a few real images as its input
example, pinned pip requirements and tuner's metadata (class names, what the model does to its input); and
logging such a model as a LoggedModel of a run, and loading it back, through one ``MlflowClient``.

Never imports Keras: the model is handed to ``mlflow.keras`` as an object.

Example::

    card = card_for(data, preprocess="scale")
    signature(card).inputs.inputs[0].shape  # (-1, 28, 28, 1), dtype uint8
    model_id = log_keras(client, experiment_id, run_id, model, card)   # a LoggedModel of the run
    load_keras(client, "sqlite:///mlflow.db", model_id, Path("/tmp/m"))  # the keras.Model again, safe mode on
"""

from __future__ import annotations

import functools
import os
import tempfile
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np
from mlflow.entities import LoggedModelOutput
from mlflow.models import Model, ModelSignature
from mlflow.tracking import MlflowClient
from mlflow.types import Schema, TensorSpec

from tuner.config import BACKENDS
from tuner.data import Dataset
from tuner.tracking import keras_loader
from tuner.tracking.keras_loader import CODE_DIR, LOADER_MODULE, MODULES_KEY

EXAMPLE_IMAGES = 3  # validation images saved as the input example: enough to show the batch axis, small on disk
MAX_PIXEL = 255
# the Keras backend -> the distribution that provides it


@dataclass(frozen=True)
class ModelCard:
    """What an MLflow model of an image classifier says about itself, from plain data.

    ``preprocess`` names what the model itself does to the pixels (``scale``, ``center``; for an ensemble its
    members' values, comma-separated); ``class_names[i]`` is the label of output column ``i``.
    """

    input_shape: tuple[int, ...]
    n_classes: int
    example: np.ndarray
    preprocess: str
    class_names: tuple[str, ...] = ()
    modules: tuple[str, ...] = ()  # a user's builder's module(s) (model.builder), imported before the model loads
    code: tuple[str, ...] = ()  # their files or package folders, shipped in the MLflow model's code/

    def labels(self) -> list[str]:
        return list(self.class_names) if self.class_names else [str(i) for i in range(self.n_classes)]


def card_for(data: Dataset, preprocess: str, modules: tuple[str, ...] = (), code: tuple[str, ...] = ()
             ) -> ModelCard:
    """The card of a model trained on ``data``: its image shape, its classes and their names (the submission's
    labels) and the first validation images as the input example; ``modules`` and ``code``: a user's builder's
    (``UserBuilder.modules``, ``.code``), which the model needs to load.

    Example::

        card_for(data, "scale").example.shape  # (3, 28, 28, 1), uint8
    """
    return ModelCard(tuple(data.input_shape), int(data.n_classes), np.asarray(data.x_val[:EXAMPLE_IMAGES]),
                     str(preprocess), tuple(data.class_names), modules=tuple(modules), code=tuple(code))


def signature(card: ModelCard) -> ModelSignature:
    """Raw uint8 pixels ``(-1, H, W, C)`` in, float32 probabilities ``(-1, n_classes)`` out."""
    return ModelSignature(inputs=Schema([TensorSpec(np.dtype(np.uint8), (-1, *card.input_shape))]),
                          outputs=Schema([TensorSpec(np.dtype(np.float32), (-1, card.n_classes))]))


def metadata(card: ModelCard) -> dict[str, Any]:
    """tuner's part of the ``MLmodel`` file: the class names and the preprocessing (none outside the model)."""
    custom = {MODULES_KEY: list(card.modules)} if card.modules else {}
    return {
        **custom,
        "class_names": card.labels(),
        "input": {"dtype": "uint8", "shape": list(card.input_shape), "range": [0, MAX_PIXEL]},
        "preprocessing": {"outside_model": "none: pass raw 0-255 pixels", "inside_model": card.preprocess},
        "output": "class probabilities, one column per class name",
    }


@functools.lru_cache(maxsize=None)
def requirements(backend: str | None = None) -> tuple[str, ...]:
    """Pinned ``keras``, its backend's package and ``mlflow``, from the installed versions (never inferred per
    model, which would load the model in a subprocess). ``backend`` defaults to ``$KERAS_BACKEND``."""
    name = backend or os.environ.get("KERAS_BACKEND", "tensorflow")
    if name not in BACKENDS:
        raise ValueError(f"unknown Keras backend {name!r} (KERAS_BACKEND); choose one of: "
                         f"{', '.join(BACKENDS)}")
    return (*(f"{p}=={version(p)}" for p in ("keras", BACKENDS[name])), mlflow_requirement())


def mlflow_requirement() -> str:
    """``mlflow==<version>``, or ``mlflow-skinny==<version>`` where only MLflow's client package is installed
    (as on a machine that has no room for MLflow's server: bench/gpu_check.sh carries the skinny one)."""
    for package in ("mlflow", "mlflow-skinny"):
        try:
            return f"{package}=={version(package)}"
        except PackageNotFoundError:
            continue
    raise PackageNotFoundError("mlflow (neither mlflow nor mlflow-skinny is installed)")


def save_keras(model: Any, card: ModelCard, folder: Path, mlflow_model: Model) -> Path:
    """Write ``model`` (a ``keras.Model``) as an MLflow model with the Keras flavor into ``folder``
    (created; it must not hold an MLflow model yet), in the native ``.keras`` format; returns ``folder``."""
    import mlflow.keras

    folder.mkdir(parents=True)  # mlflow.keras writes the input example before it creates the folder
    mlflow.keras.save_model(model, str(folder), mlflow_model=mlflow_model, signature=signature(card),
                            input_example=card.example, pip_requirements=list(requirements()),
                            metadata=metadata(card))
    if card.code:
        ship_code(folder, card.code, mlflow_model)
    return folder


def ship_code(folder: Path, code: tuple[str, ...], mlflow_model: Model) -> None:
    """Copy ``code`` (files, package folders) and ``keras_loader`` into ``folder/code/``, and make the loader the
    pyfunc ``loader_module``: ``mlflow.pyfunc`` and ``mlflow models serve`` then import the user's module before
    the model loads (MLflow's ``code_paths``, which ``mlflow.keras.save_model`` does not take)."""
    import shutil

    from mlflow.pyfunc import FLAVOR_NAME as PYFUNC

    target = folder / CODE_DIR
    target.mkdir()
    for item in map(Path, code):
        if item.is_dir():
            shutil.copytree(item, target / item.name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(item, target / item.name)
    shutil.copy2(keras_loader.__file__, target / f"{LOADER_MODULE}.py")
    flavor = mlflow_model.flavors[PYFUNC]
    flavor["code"], flavor["loader_module"] = CODE_DIR, LOADER_MODULE
    mlflow_model.flavors["keras"]["code"] = CODE_DIR
    mlflow_model.save(str(folder / "MLmodel"))


def log_keras(client: MlflowClient, experiment_id: str, run_id: str, model: Any, card: ModelCard,
              name: str = "model") -> str:
    """Log ``model`` (a ``keras.Model``) as an MLflow model with the Keras flavor, through ``client`` only (no
    fluent active run, no global tracking URI): a LoggedModel of the experiment named ``name``, whose source run
    is ``run_id``, with the run's params, listed among the run's outputs, READY once its files are uploaded
    (FAILED if that fails); returns its model id."""
    with tempfile.TemporaryDirectory(prefix="tuner-model-") as tmp:
        folder = save_keras(model, card, Path(tmp) / "model", Model())
        return log_saved_keras(client, experiment_id, run_id, folder, name)


def log_saved_keras(client: MlflowClient, experiment_id: str, run_id: str, folder: Path, name: str = "model",
                    tags: dict[str, str] | None = None) -> str:
    """``log_keras`` of a model ``save_keras`` wrote into ``folder`` before (so that a model can be kept while
    the tracking store does not answer): its ``MLmodel`` gets the LoggedModel's ids, then its files are uploaded."""
    params = client.get_run(run_id).data.params
    logged = client.create_logged_model(experiment_id, name=name, source_run_id=run_id, params=dict(params),
                                        model_type="keras", tags=tags)
    try:
        info = Model.load(str(folder / "MLmodel"))
        info.artifact_path, info.model_uuid, info.run_id, info.model_id = (
            logged.artifact_location, logged.model_id, run_id, logged.model_id)
        info.save(str(folder / "MLmodel"))
        client.log_model_artifacts(logged.model_id, str(folder))
    except BaseException:
        client.finalize_logged_model(logged.model_id, "FAILED")
        raise
    client.finalize_logged_model(logged.model_id, "READY")
    client.log_outputs(run_id, [LoggedModelOutput(logged.model_id, 0)])
    return logged.model_id


def load_keras(client: MlflowClient, uri: str, model_id: str, dst: Path) -> Any:
    """Download the LoggedModel ``model_id`` of the store at ``uri`` into ``dst`` and load it as a ``keras.Model``
    with Keras' safe mode on (a ``.keras`` file never runs code)."""
    return load_keras_with_metadata(client, uri, model_id, dst)[0]


def load_keras_with_metadata(client: MlflowClient, uri: str, model_id: str, dst: Path) -> tuple[Any, dict[str, Any]]:
    """``load_keras``, and the model's tuner metadata (``metadata(card)``: class names, input shape) from its
    ``MLmodel`` file; ``{}`` for a model logged without any."""
    import mlflow.keras
    from mlflow.artifacts import download_artifacts

    location = client.get_logged_model(model_id).artifact_location
    local = download_artifacts(artifact_uri=location, dst_path=str(dst), tracking_uri=uri)
    (dst / "loaded").mkdir(parents=True, exist_ok=True)  # mlflow.keras copies the model there to load it
    keras_loader.register_modules(local)  # a user's builder's module, shipped in the model's code/
    model = mlflow.keras.load_model(local, dst_path=str(dst / "loaded"), load_model_kwargs={"safe_mode": True})
    return model, dict(Model.load(local).metadata or {})
