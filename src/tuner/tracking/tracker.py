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

A study's tracker (``Tracker(uri, name, spool=folder)``) never lets the tracking store stop the search: each
call is bounded (``BOUNDED_ENV``), and a call the store does not answer, with every call after it, is kept in
a local spool (``tuner.tracking.spool``) that a background thread sends, in order, once the store answers again
(``finish`` waits for it at the end). A trial whose run could not be created yet gets a pending id
(``PENDING`` + a key the run is tagged with), which ``resolve`` turns into the run's id once it is sent.
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, Mapping

from mlflow.entities import DatasetInput, Metric, Param, RunTag
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

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
from tuner.tracking.links import ui_hint, ui_link
from tuner.tracking.logged_model import ModelCard, load_keras, log_keras, log_saved_keras, save_keras
from tuner.tracking.sender import BOUNDED_ENV, OPENING_ENV, PENDING, Sender, not_mlflow, set_env, unavailable, why

log = logging.getLogger(__name__)
# Several worker processes may share one SQLite store: MLflow sets SQLite's busy timeout
# to 20 s, which bench/mlflow_lock.py found enough (no "database is locked" with 4 writers).

# Optuna trial state -> MLflow run status.
RUN_STATUS = {"COMPLETE": "FINISHED", "PRUNED": "FINISHED", "FAIL": "FAILED", "INTERRUPTED": "KILLED"}
PARAM_MAX = 6000
TAG_RUN_KEY, TAG_MODEL_KEY = "tuner.run_key", "tuner.model_key"  # find a run/model again whose reply was lost


def _now_ms() -> int:
    return int(time.time() * 1000)


def masked_tags(tags: Mapping[str, Any]) -> dict[str, str]:
    """Tag values as MLflow stores them, every URL's password masked."""
    return {k: hide_password(str(v)) for k, v in tags.items()}


def _params(params: Mapping[str, Any]) -> dict[str, str]:
    return {k: hide_password(str(v))[:PARAM_MAX] for k, v in params.items()}


def _trial_tags(parent_id: str, number: int, tags: Mapping[str, Any]) -> dict[str, str]:
    return masked_tags({**SOURCE_TAGS, TAG_PARENT: parent_id, TAG_TRIAL_NUMBER: str(number), **tags})


class Tracker:
    """Thin wrapper over ``MlflowClient`` that knows the parent/child layout of a study; with ``spool`` (a folder),
    the calls that change runs are kept there while the tracking store does not answer, and sent once it does."""

    def __init__(self, uri: str, experiment_name: str, spool: Path | None = None) -> None:
        self.client = MlflowClient(tracking_uri=uri)
        self.uri = uri
        self.where = hide_password(uri)  # the URI for messages
        try:
            if spool is not None:
                set_env(OPENING_ENV)
            self.experiment_id = self._experiment(experiment_name)
        except Exception as err:
            if unavailable(err):
                raise TunerError(f"the MLflow tracking store at tracking.uri={self.where} does not answer "
                                 f"({why(err)}): start it (e.g. `mlflow server`), or set "
                                 "tracking.uri to one that runs") from err
            if not_mlflow(err):
                raise TunerError(f"tracking.uri={self.where} answers, but not as an MLflow tracking server (it "
                                 "returned a web page, not MLflow's API): check the address and port, e.g. "
                                 "tracking.uri=http://host:5000") from err
            raise
        finally:
            if spool is not None:
                set_env(BOUNDED_ENV)
        self.spool_dir = spool
        self.sender = Sender(spool, self.where, self._call, self.resolve) if spool is not None else None
        if self.sender is not None:
            self.sender.send_leftovers()

    def _experiment(self, experiment_name: str) -> str:
        """The id of the experiment ``experiment_name``, created (or restored) as needed."""
        found = self.client.get_experiment_by_name(experiment_name)
        if found is not None and found.lifecycle_stage == "deleted":
            self.client.restore_experiment(found.experiment_id)
        if found is None:
            try:
                return self.client.create_experiment(experiment_name, tags={TAG_EXPERIMENT_KIND: EXPERIMENT_KIND})
            except MlflowException as err:  # another worker created it a moment ago
                if unavailable(err):
                    raise
                found = self.client.get_experiment_by_name(experiment_name)
                if found is None:
                    raise
        if TAG_EXPERIMENT_KIND not in found.tags:  # made by an older tuner, or by hand
            self.client.set_experiment_tag(found.experiment_id, TAG_EXPERIMENT_KIND, EXPERIMENT_KIND)
        return found.experiment_id

    def _call(self, op: str, args: dict[str, Any]) -> Any:
        return getattr(self, f"_{op}")(**args)

    def _send(self, op: str, **args: Any) -> Any:
        """``self._<op>(**args)``, through the spool for a study's tracker (``Sender.send``)."""
        return self._call(op, args) if self.sender is None else self.sender.send(op, args)

    def finish(self, timeout: float) -> bool:
        """The end of the invocation: send what the spool keeps, waiting at most ``timeout`` s (``Sender.finish``)."""
        return True if self.sender is None else self.sender.finish(timeout)

    def resolve(self, run_id: str | None) -> str | None:
        """The id of the run ``run_id`` names: itself, or for a pending id the run sent since; None if not sent."""
        if not run_id or not str(run_id).startswith(PENDING):
            return run_id
        key = str(run_id)[len(PENDING):]
        ids = self.sender.ids if self.sender is not None else {}
        if key not in ids:
            found = self._find_run(key)
            if found is None:
                return None
            ids[key] = found
        return ids[key]

    def _find_run(self, key: str) -> str | None:
        runs = self.client.search_runs([self.experiment_id], f"tags.`{TAG_RUN_KEY}` = '{key}'", max_results=1)
        return runs[0].info.run_id if runs else None

    # -- runs ---------------------------------------------------------------------------------------------------

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
        run = self.client.create_run(self.experiment_id, run_name=name, tags=masked_tags({**SOURCE_TAGS, **(tags or {})}))
        return run.info.run_id

    def close_parent(self, run_id: str, status: str = "FINISHED") -> None:
        self._send("close_parent", run_id=run_id, status=status)

    def _close_parent(self, run_id: str, status: str) -> None:
        self.client.set_terminated(run_id, status=status)

    def running_children(self, parent_id: str) -> dict[str, str]:
        """Run id -> trial number (tag) of the parent's child runs still RUNNING."""
        runs = self.client.search_runs(
            [self.experiment_id], f"tags.{TAG_PARENT} = '{parent_id}' and attributes.status = 'RUNNING'")
        return {r.info.run_id: r.data.tags.get(TAG_TRIAL_NUMBER, "") for r in runs}

    def sweep(self, parent_id: str, running: set[str], reason: str) -> None:
        """Close KILLED (``reason``) the parent's RUNNING child runs whose trial number is not in ``running``."""
        self._send("sweep", parent_id=parent_id, running=sorted(running), reason=reason)

    def _sweep(self, parent_id: str, running: list[str], reason: str) -> None:
        for run_id, number in self.running_children(parent_id).items():
            if number not in running:
                self._kill_trial(run_id, reason, False)

    def kill_trial(self, run_id: str, reason: str, closed_too: bool = False) -> None:
        """Close a trial's run that its dead worker left RUNNING as KILLED, unless it was closed
        (``closed_too``: close it KILLED all the same, for a run that an interrupt ended as FAILED)."""
        self._send("kill_trial", run_id=run_id, reason=reason, closed_too=closed_too)

    def _kill_trial(self, run_id: str, reason: str, closed_too: bool) -> None:
        run_id = self.resolve(run_id)
        if run_id is None:  # its run is still in its dead worker's spool: sweeping closes it once that is sent
            return
        if not closed_too and self.client.get_run(run_id).info.status != "RUNNING":
            return
        self.client.log_batch(run_id, tags=[RunTag(TAG_STATE, "FAIL"), RunTag(TAG_FAIL_REASON, hide_password(reason))])
        self.client.set_terminated(run_id, status="KILLED")
        log.warning("MLflow run %s marked KILLED (%s)", run_id, reason)

    def record_killed(self, parent_id: str, number: int, params: Mapping[str, Any], reason: str) -> None:
        """Close KILLED (``reason``) the run of trial ``number`` that its dead worker created but did not record on the
        trial, or, if it died before it created one, a new run with ``params``: every trial keeps its one run."""
        self._send("record_killed", parent_id=parent_id, number=number, reason=reason,
                   params=_params(params), key=uuid.uuid4().hex)

    def _record_killed(self, parent_id: str, number: int, reason: str, params: dict[str, str], key: str) -> None:
        created = [run_id for run_id, n in self.running_children(parent_id).items() if n == str(number)]
        run_id = created[0] if created else self._start_trial(parent_id, number, key, params,
                                                              _trial_tags(parent_id, number, {}), look=True)
        self._kill_trial(run_id, reason, False)

    def start_trial(self, parent_id: str, number: int, params: Mapping[str, Any], tags: Mapping[str, str]) -> str:
        """Create the nested child run of trial ``number`` and log its hyperparameters; returns its id (a pending
        id while the tracking store does not answer: ``resolve`` it)."""
        return self._send("start_trial", parent_id=parent_id, number=number, key=uuid.uuid4().hex,
                          params=_params(params), tags=_trial_tags(parent_id, number, tags), look=False)

    def _start_trial(self, parent_id: str, number: int, key: str, params: dict[str, str], tags: dict[str, str],
                     look: bool) -> str:
        run_id = self._find_run(key) if look else None
        if run_id is None:
            run = self.client.create_run(self.experiment_id, run_name=f"trial-{number:04d}",
                                         tags={**tags, TAG_RUN_KEY: key})
            run_id = run.info.run_id
        self.client.log_batch(run_id, params=[Param(k, v) for k, v in params.items()])
        return run_id

    def log_dataset(self, run_id: str, dataset: DatasetInput) -> None:
        """Record ``dataset`` (``tracking.datasets.dataset_input``) as the run's input: the Dataset column."""
        self._send("log_dataset", run_id=run_id, dataset=dataset)

    def _log_dataset(self, run_id: str, dataset: DatasetInput) -> None:
        self.client.log_inputs(run_id, datasets=[dataset])

    def log_epoch(self, run_id: str, epoch: int, metrics: Mapping[str, float]) -> None:
        """All of one epoch's metrics in one call, at step ``epoch``."""
        self.log_metrics(run_id, metrics, step=epoch)

    def log_trial_model(self, run_id: str, model: Any, card: ModelCard) -> str:
        """Save ``model`` (a ``keras.Model`` described by ``card``) as an MLflow model and log it as the LoggedModel
        of the trial's run ``run_id``; returns its model id, or a pending id (``PENDING`` + key) while the store does
        not answer (the saved model is kept in the spool). A full disk, here or in the store's artifact folder,
        raises: the trial cannot keep its model."""
        from mlflow.models import Model

        with tempfile.TemporaryDirectory(prefix="tuner-model-") as tmp:
            folder = save_keras(model, card, Path(tmp) / "model", Model())
            key = uuid.uuid4().hex
            model_id = self._send("log_saved", run_id=run_id, folder=str(folder), name="model", key=key, look=False)
        return model_id or PENDING + key

    def end_trial(self, run_id: str, state: str, metrics: Mapping[str, float],
                  tags: Mapping[str, str] | None = None, model: Any = None, card: ModelCard | None = None,
                  dataset: DatasetInput | None = None, model_id: str | None = None) -> None:
        """Log the final figures, the model if any (``model``, a ``keras.Model`` described by ``card``, as a
        LoggedModel that carries the final figures too, measured on ``dataset``: the Models tab's Dataset
        column; or ``model_id``, one logged already by ``log_trial_model``), and close the run with the trial's state.

        A model that cannot be logged is a warning and the tag ``tuner.model_error``: the trial keeps its state.
        """
        tags = masked_tags({TAG_STATE: state, **(tags or {})})
        if model is not None and card is not None:
            try:
                model_id = self.log_trial_model(run_id, model, card)
            except Exception as err:  # noqa: BLE001 - the trial's result stands; export skips a trial without one
                log.warning("run %s: its model was not logged (%s: %s)", run_id, type(err).__name__, err)
                tags[TAG_MODEL_ERROR] = f"{type(err).__name__}: {err}"[:PARAM_MAX]
        self._send("end_trial", run_id=run_id, state=state, metrics={k: float(v) for k, v in metrics.items()},
                   tags=tags, dataset=dataset, model_id=model_id)

    def _end_trial(self, run_id: str, state: str, metrics: dict[str, float], tags: dict[str, str],
                   dataset: DatasetInput | None, model_id: str | None) -> None:
        if model_id and model_id.startswith(PENDING):  # logged from the spool since: found by its key
            model_id = self._find_model(model_id[len(PENDING):])
        on = dataset.dataset if dataset is not None and model_id is not None else None
        ts = _now_ms()
        self.client.log_batch(
            run_id,
            metrics=[Metric(k, v, ts, 0, model_id=model_id, dataset_name=on.name if on else None,
                            dataset_digest=on.digest if on else None) for k, v in metrics.items()],
            tags=[RunTag(k, v) for k, v in tags.items()],
        )
        self.client.set_terminated(run_id, status=RUN_STATUS[state])

    def _find_model(self, key: str) -> str | None:
        """The READY LoggedModel logged under ``key``, if any."""
        found = self.client.search_logged_models(
            [self.experiment_id], filter_string=f"tags.`{TAG_MODEL_KEY}` = '{key}'", max_results=10)
        ready = [m.model_id for m in found if str(m.status) in ("READY", "LoggedModelStatus.READY")]
        return ready[0] if ready else None

    def _log_saved(self, run_id: str, folder: str, name: str, key: str, look: bool) -> str:
        """Log the saved MLflow model in ``folder`` (once: with ``look``, a model already logged under ``key``
        is found again); returns its model id."""
        found = self._find_model(key) if look else None
        return found or log_saved_keras(self.client, self.experiment_id, run_id, Path(folder), name,
                                        {TAG_MODEL_KEY: key})

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
        outputs = self.client.get_run(self.run_of(run_id)).outputs
        ids = [o.model_id for o in (outputs.model_outputs if outputs else [])]
        return ids[-1] if ids else None

    def load_model(self, model_id: str, dst: Path) -> Any:
        """The LoggedModel ``model_id`` as a ``keras.Model``, downloaded into ``dst``, Keras' safe mode on."""
        return load_keras(self.client, self.uri, model_id, dst)

    def log_file(self, run_id: str, path: Path, artifact_path: str | None = None) -> None:
        self._send("log_file", run_id=run_id, path=str(path), artifact_path=artifact_path)

    def _log_file(self, run_id: str, path: str, artifact_path: str | None) -> None:
        self.client.log_artifact(run_id, path, artifact_path)

    def log_folder(self, run_id: str, folder: Path, artifact_path: str | None = None) -> None:
        """Log every file under ``folder`` (replacing earlier files of the same names)."""
        self._send("log_folder", run_id=run_id, folder=str(folder), artifact_path=artifact_path)

    def _log_folder(self, run_id: str, folder: str, artifact_path: str | None) -> None:
        self.client.log_artifacts(run_id, folder, artifact_path)

    def log_text(self, run_id: str, text: str, name: str) -> None:
        """Log ``text`` as the artifact ``name`` (replacing an earlier one of that name)."""
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / name
            path.write_text(hide_password(text))
            self.log_file(run_id, path)

    def log_json(self, run_id: str, obj: Any, name: str) -> None:
        self.log_text(run_id, json.dumps(obj, indent=2, sort_keys=True, default=str), name)

    def log_metrics(self, run_id: str, metrics: Mapping[str, float], step: int = 0) -> None:
        self._send("log_metrics", run_id=run_id, metrics={k: float(v) for k, v in metrics.items()}, step=step,
                   timestamp=_now_ms())

    def _log_metrics(self, run_id: str, metrics: dict[str, float], step: int, timestamp: int) -> None:
        self.client.log_batch(run_id, metrics=[Metric(k, v, timestamp, step) for k, v in metrics.items()])

    def set_tags(self, run_id: str, tags: Mapping[str, str]) -> None:
        self._send("set_tags", run_id=run_id, tags=masked_tags(tags))

    def _set_tags(self, run_id: str, tags: dict[str, str]) -> None:
        self.client.log_batch(run_id, tags=[RunTag(k, v) for k, v in tags.items()])

    def download(self, run_id: str, artifact: str, dst: Path) -> Path:
        """Fetch one artifact of a run into ``dst``; returns the local path."""
        return Path(self.client.download_artifacts(self.run_of(run_id), artifact, str(dst)))

    def run_of(self, run_id: str) -> str:
        """``resolve(run_id)``, or a TunerError saying how to send the spool that still holds the run."""
        found = self.resolve(run_id)
        if found is None:
            raise TunerError(f"MLflow run {run_id} is still in the tracking spool {self.spool_dir or ''}: it is "
                             f"sent once the tracking store at {self.where} answers; rerun the study's command")
        return found
