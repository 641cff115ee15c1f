"""MLflow tracking: one experiment per tuner experiment, one parent run per study,
one nested child run per trial, and each completed trial's model as an MLflow Keras model (a LoggedModel whose
source run is the trial's). Never imports Keras: models arrive as objects handed on to ``mlflow.keras``.

Example::

    tracker = Tracker("sqlite:///mlflow.db", "digits_cnn")
    parent = tracker.open_parent(None, "study digits_cnn")
    child = tracker.start_trial(parent, 0, {"width": 64}, {"tuner.seed": "7"})
    tracker.log_epoch(child, 0, {"loss": 0.5, "val_accuracy": 0.9})
    tracker.end_trial(child, "COMPLETE", {"val_accuracy": 0.9}, model=keras_model, card=card_for(data, "scale"))
    tracker.trial_model(child)  # the LoggedModel's id: load it with tracker.load_model, register it
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import urlsplit

from mlflow.entities import DatasetInput, Metric, Param, RunTag
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_MODEL_VERSIONS

from tuner.config import hide_password
from tuner.errors import TunerError
from tuner.study.records import (
    EXPERIMENT_KIND,
    SOURCE_TAGS,
    TAG_EXPERIMENT_KIND,
    TAG_FAIL_REASON,
    TAG_MODEL_ERROR,
    TAG_PARENT,
    TAG_STATE,
    TAG_TRIAL_NUMBER,
)
from tuner.tracking.logged_model import ModelCard, load_keras, log_keras

log = logging.getLogger(__name__)
# Several worker processes may share one SQLite store: MLflow sets SQLite's busy timeout
# to 20 s, which bench/mlflow_lock.py found enough (no "database is locked" with 4 writers).

# Optuna trial state -> MLflow run status.
RUN_STATUS = {"COMPLETE": "FINISHED", "PRUNED": "FINISHED", "FAIL": "FAILED", "INTERRUPTED": "KILLED"}
PARAM_MAX = 6000


# where a bare `mlflow ui` listens: the UI of a store that is not an MLflow server
DEFAULT_UI = "http://127.0.0.1:5000"
ML_VIEW = "workflowType=machine_learning"  # without it the UI opens on its GenAI pages


def ui_link(uri: str, experiment_id: str) -> str:
    """The MLflow UI's page of the experiment's runs, in the model-training view: on the server of an
    ``http(s)://`` ``uri`` (its credentials left out), else on a bare ``mlflow ui``'s default address.

    Example::

        ui_link("sqlite:///mlflow.db", "1")  # 'http://127.0.0.1:5000/#/experiments/1/runs?workflowType=...'
    """
    page = f"/#/experiments/{experiment_id}/runs?{ML_VIEW}"
    parts = urlsplit(uri)
    if parts.scheme in ("http", "https") and parts.hostname:
        port = f":{parts.port}" if parts.port else ""
        host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        return f"{parts.scheme}://{host}{port}{parts.path.rstrip('/')}{page}"
    return DEFAULT_UI + page


def ui_hint(uri: str) -> str:
    """What serves ``ui_link``'s page: the server itself, or the ``mlflow ui`` command to start."""
    if urlsplit(uri).scheme in ("http", "https"):
        return "the tracking server"
    if uri in ("sqlite:///mlflow.db", ""):
        return "`mlflow ui` started in this folder"
    return f"`mlflow ui --backend-store-uri {hide_password(uri)}`"


def _now_ms() -> int:
    return int(time.time() * 1000)


def _tags(tags: Mapping[str, Any]) -> dict[str, str]:
    """Tag values as MLflow stores them, every URL's password masked."""
    return {k: hide_password(str(v)) for k, v in tags.items()}


class Tracker:
    """Thin wrapper over ``MlflowClient`` that knows the parent/child layout of a study."""

    def __init__(self, uri: str, experiment_name: str) -> None:
        self.client = MlflowClient(tracking_uri=uri)
        self.uri = uri
        self.where = hide_password(uri)  # the URI for messages
        found = self.client.get_experiment_by_name(experiment_name)
        if found is not None and found.lifecycle_stage == "deleted":
            self.client.restore_experiment(found.experiment_id)
        if found is None:
            try:
                self.experiment_id = self.client.create_experiment(
                    experiment_name, tags={TAG_EXPERIMENT_KIND: EXPERIMENT_KIND})
            except MlflowException:  # another worker created it a moment ago
                found = self.client.get_experiment_by_name(experiment_name)
                if found is None:
                    raise
        if found is not None:
            self.experiment_id = found.experiment_id
            if TAG_EXPERIMENT_KIND not in found.tags:  # made by an older tuner, or by hand
                self.client.set_experiment_tag(self.experiment_id, TAG_EXPERIMENT_KIND, EXPERIMENT_KIND)

    def ui_link(self) -> str:
        """The link that opens this experiment's runs in the MLflow UI's model-training view, and what serves it."""
        return f"{ui_link(self.uri, self.experiment_id)} (served by {ui_hint(self.uri)})"

    def open_parent(self, run_id: str | None, name: str, tags: Mapping[str, str] | None = None) -> str:
        """Reopen the study's parent run if it exists, else create it; returns its id."""
        if run_id:
            try:
                self.client.get_run(run_id)
            except Exception:  # noqa: BLE001 - MLflow raises MlflowException or a store error
                log.warning("parent run %s is gone from %s; starting a new one", run_id, self.where)
            else:
                self.client.update_run(run_id, status="RUNNING")
                return run_id
        run = self.client.create_run(self.experiment_id, run_name=name, tags=_tags({**SOURCE_TAGS, **(tags or {})}))
        return run.info.run_id

    def close_parent(self, run_id: str, status: str = "FINISHED") -> None:
        self.client.set_terminated(run_id, status=status)

    def running_children(self, parent_id: str) -> dict[str, str]:
        """Run id -> trial number (tag) of the parent's child runs still RUNNING."""
        runs = self.client.search_runs(
            [self.experiment_id], f"tags.{TAG_PARENT} = '{parent_id}' and attributes.status = 'RUNNING'")
        return {r.info.run_id: r.data.tags.get(TAG_TRIAL_NUMBER, "") for r in runs}

    def kill_trial(self, run_id: str, reason: str, closed_too: bool = False) -> bool:
        """Close a trial's run that its dead worker left RUNNING as KILLED; False if it was closed
        (``closed_too``: close it KILLED all the same, for a run that an interrupt ended as FAILED)."""
        if not closed_too and self.client.get_run(run_id).info.status != "RUNNING":
            return False
        self.client.log_batch(run_id, tags=[RunTag(TAG_STATE, "FAIL"), RunTag(TAG_FAIL_REASON, hide_password(reason))])
        self.client.set_terminated(run_id, status="KILLED")
        return True

    def start_trial(self, parent_id: str, number: int, params: Mapping[str, Any], tags: Mapping[str, str]) -> str:
        """Create the nested child run of trial ``number`` and log its hyperparameters."""
        run = self.client.create_run(
            self.experiment_id, run_name=f"trial-{number:04d}",
            tags=_tags({**SOURCE_TAGS, TAG_PARENT: parent_id, TAG_TRIAL_NUMBER: str(number), **tags}),
        )
        run_id = run.info.run_id
        self.client.log_batch(run_id, params=[Param(k, hide_password(str(v))[:PARAM_MAX]) for k, v in params.items()])
        return run_id

    def log_dataset(self, run_id: str, dataset: DatasetInput) -> None:
        """Record ``dataset`` (``tracking.datasets.dataset_input``) as the run's input: the Dataset column."""
        self.client.log_inputs(run_id, datasets=[dataset])

    def log_epoch(self, run_id: str, epoch: int, metrics: Mapping[str, float]) -> None:
        """All of one epoch's metrics in one call, at step ``epoch``."""
        ts = _now_ms()
        self.client.log_batch(run_id, metrics=[Metric(k, float(v), ts, epoch) for k, v in metrics.items()])

    def end_trial(self, run_id: str, state: str, metrics: Mapping[str, float],
                  tags: Mapping[str, str] | None = None, model: Any = None, card: ModelCard | None = None,
                  dataset: DatasetInput | None = None, model_id: str | None = None) -> None:
        """Log the final figures, the model if any (``model``, a ``keras.Model`` described by ``card``, as a
        LoggedModel that carries the final figures too, measured on ``dataset``: the Models tab's Dataset
        column; or ``model_id``, one logged already by ``log_model``), and close the run with the trial's state.

        A model that cannot be logged is a warning and the tag ``tuner.model_error``: the trial keeps its state.
        """
        tags = {TAG_STATE: state, **(tags or {})}
        if model is not None and card is not None:
            try:
                model_id = self.log_model(run_id, model, card)
            except Exception as err:  # noqa: BLE001 - the trial's result stands; export skips a trial without a model
                log.warning("run %s: its model was not logged (%s: %s)", run_id, type(err).__name__, err)
                tags[TAG_MODEL_ERROR] = f"{type(err).__name__}: {err}"[:PARAM_MAX]
        on = dataset.dataset if dataset is not None and model_id is not None else None
        ts = _now_ms()
        self.client.log_batch(
            run_id,
            metrics=[Metric(k, float(v), ts, 0, model_id=model_id, dataset_name=on.name if on else None,
                            dataset_digest=on.digest if on else None) for k, v in metrics.items()],
            tags=[RunTag(k, v) for k, v in _tags(tags).items()],
        )
        self.client.set_terminated(run_id, status=RUN_STATUS[state])

    def log_model(self, run_id: str, model: Any, card: ModelCard, metrics: Mapping[str, float] | None = None,
                  name: str = "model") -> str:
        """Log ``model`` (a ``keras.Model``) as an MLflow Keras model named ``name`` whose source run is ``run_id``
        (``logged_model.log_keras``), carrying ``metrics``; returns its model id.

        Example::

            model_id = tracker.log_model(parent, ensemble_model, card, name="ensemble_model")
            mlflow.pyfunc.load_model(f"models:/{model_id}")  # with the tracking URI set to tracker.uri
        """
        model_id = log_keras(self.client, self.experiment_id, run_id, model, card, name)
        if metrics:
            ts = _now_ms()
            self.client.log_batch(run_id, metrics=[Metric(k, float(v), ts, 0, model_id=model_id)
                                                   for k, v in metrics.items()])
        return model_id

    def trial_model(self, run_id: str) -> str | None:
        """The id of the (last) LoggedModel whose source run is ``run_id``; None for a run that logged none
        (a study tracked before trials' models were MLflow models: its ``model/model.keras`` artifact)."""
        outputs = self.client.get_run(run_id).outputs
        ids = [o.model_id for o in (outputs.model_outputs if outputs else [])]
        return ids[-1] if ids else None

    def load_model(self, model_id: str, dst: Path) -> Any:
        """The LoggedModel ``model_id`` as a ``keras.Model``, downloaded into ``dst``, Keras' safe mode on."""
        return load_keras(self.client, self.uri, model_id, dst)

    def log_file(self, run_id: str, path: Path, artifact_path: str | None = None) -> None:
        self.client.log_artifact(run_id, str(path), artifact_path)

    def log_folder(self, run_id: str, folder: Path, artifact_path: str | None = None) -> None:
        """Log every file under ``folder`` (replacing earlier files of the same names)."""
        self.client.log_artifacts(run_id, str(folder), artifact_path)

    def log_text(self, run_id: str, text: str, name: str) -> None:
        """Log ``text`` as the artifact ``name`` (replacing an earlier one of that name)."""
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / name
            path.write_text(hide_password(text))
            self.client.log_artifact(run_id, str(path))

    def log_json(self, run_id: str, obj: Any, name: str) -> None:
        self.log_text(run_id, json.dumps(obj, indent=2, sort_keys=True, default=str), name)

    def log_metrics(self, run_id: str, metrics: Mapping[str, float], step: int = 0) -> None:
        ts = _now_ms()
        self.client.log_batch(run_id, metrics=[Metric(k, float(v), ts, step) for k, v in metrics.items()])

    def set_tags(self, run_id: str, tags: Mapping[str, str]) -> None:
        self.client.log_batch(run_id, tags=[RunTag(k, v) for k, v in _tags(tags).items()])

    def download(self, run_id: str, artifact: str, dst: Path) -> Path:
        """Fetch one artifact of a run into ``dst``; returns the local path."""
        return Path(self.client.download_artifacts(run_id, artifact, str(dst)))

    def register_model(self, name: str, model_id: str, run_id: str, tags: Mapping[str, str]) -> int:
        """Register the LoggedModel ``model_id`` (whose source run is ``run_id``) as a new version of the registered
        model ``name`` (created on first use); returns the version number. The version loads with
        ``mlflow.pyfunc.load_model("models:/<name>/<version>")``.

        Example::

            tracker.register_model("tuner-digits_cnn", tracker.trial_model(child), child, {"tuner.trial": "3"})  # 1
        """
        from mlflow.protos.databricks_pb2 import RESOURCE_DOES_NOT_EXIST, ErrorCode

        try:
            try:
                self.client.get_registered_model(name)
            except MlflowException as err:
                if err.error_code != ErrorCode.Name(RESOURCE_DOES_NOT_EXIST):
                    raise
                self.client.create_registered_model(
                    name, description=f"Best models exported from tuner experiment {name.removeprefix('tuner-')}")
            # The source is the LoggedModel's artifact location, not ``models:/<model_id>``: MLflow's SQL registry
            # looks a ``models:/`` source up through the global tracking URI, which need not be this tracker's.
            logged = self.client.get_logged_model(model_id)
            version = self.client.create_model_version(
                name, source=logged.artifact_location, run_id=run_id, model_id=model_id,
                tags=_tags(tags), await_creation_for=0,
            )
            # the link MLflow's UI follows from the model to its versions (the SQL registry keeps no model id)
            links = json.loads(logged.tags.get(MLFLOW_MODEL_VERSIONS, "[]"))
            links.append({"name": name, "version": version.version})
            self.client.set_logged_model_tags(model_id, {MLFLOW_MODEL_VERSIONS: json.dumps(links)})
        except MlflowException as err:
            raise TunerError(f"cannot register model '{name}' at tracking.uri={self.where}: "
                             f"{hide_password(err.message)}; "
                             "set export.register=false to export without the model registry") from err
        return int(version.version)
