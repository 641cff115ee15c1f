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

import base64
import json
import logging
import os
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import urlsplit

from mlflow.entities import DatasetInput, Metric, Param, RunTag
from mlflow.protos.service_pb2 import DatasetInput as DatasetInputProto
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_MODEL_VERSIONS

from tuner.config import hide_password
from tuner.errors import TunerError, disk_full
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
from tuner.tracking.logged_model import ModelCard, load_keras, log_keras, log_saved_keras, save_keras
from tuner.tracking.spool import Spool, leftovers

log = logging.getLogger(__name__)
# Several worker processes may share one SQLite store: MLflow sets SQLite's busy timeout
# to 20 s, which bench/mlflow_lock.py found enough (no "database is locked" with 4 writers).

# Optuna trial state -> MLflow run status.
RUN_STATUS = {"COMPLETE": "FINISHED", "PRUNED": "FINISHED", "FAIL": "FAILED", "INTERRUPTED": "KILLED"}
PARAM_MAX = 6000
PENDING = "pending-"  # a trial's run id while its run is still in the spool: PENDING + the run's key
TAG_RUN_KEY, TAG_MODEL_KEY = "tuner.run_key", "tuner.model_key"  # find a run/model again whose reply was lost
# A study's calls to an HTTP tracking server: one try each, 10 s at most (MLflow's defaults retry for minutes);
# a call that fails goes to the spool, which retries with backoff. Opening the experiment, before anything
# else, may take a slow server's time (3 tries, 30 s each). A user's own setting of these wins.
BOUNDED_ENV = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "10"}
OPENING_ENV = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2", "MLFLOW_HTTP_REQUEST_TIMEOUT": "30"}
_USER_ENV = {key: os.environ[key] for key in BOUNDED_ENV if key in os.environ}
FIRST_RETRY_S, MAX_RETRY_S = 2.0, 60.0


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


def _chain(err: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    while err is not None and err not in seen:
        seen.append(err)
        err = err.__cause__ or err.__context__
    return seen


def unavailable(err: BaseException) -> bool:
    """Whether ``err`` says the tracking store did not answer (down, unreachable, timed out, overloaded, an SQLite
    file locked past MLflow's own wait) rather than refused the call: only then is a call kept to send later."""
    import requests

    if disk_full(err) is not None:  # SQLite says "database or disk is full" as TEMPORARILY_UNAVAILABLE
        return False
    for e in _chain(err):
        if isinstance(e, (requests.ConnectionError, requests.Timeout, ConnectionError, TimeoutError)):
            return True
        if isinstance(e, requests.HTTPError) and e.response is not None and (
                e.response.status_code >= 500 or e.response.status_code == 429):
            return True
        if isinstance(e, MlflowException):
            if e.error_code in ("TEMPORARILY_UNAVAILABLE", "REQUEST_LIMIT_EXCEEDED"):
                return True
            text = str(e.message)
            if text.startswith("API request to") and (
                    "failed with exception" in text or "failed with timeout" in text
                    or any(f"error code {code}" in text for code in ("429", "500", "502", "503", "504"))):
                return True
    return False


def not_mlflow(err: BaseException) -> bool:
    """Whether ``err`` says something answered that is not an MLflow tracking server (an HTML page, not JSON)."""
    for e in _chain(err):
        text = str(e).lower()
        if "<html" in text or "<!doctype" in text or isinstance(e, json.JSONDecodeError):
            return True
    return False


def _set_env(values: dict[str, str]) -> None:
    """MLflow's HTTP retries and timeout, read at each call, as ``values`` says unless the user set them."""
    for key, value in values.items():
        os.environ[key] = _USER_ENV.get(key, value)


def _encode(args: dict[str, Any]) -> dict[str, Any]:
    """A call's arguments as JSON: a dataset input as its serialized proto."""
    return {k: {"__dataset__": base64.b64encode(v.to_proto().SerializeToString()).decode()}
            if isinstance(v, DatasetInput) else v for k, v in args.items()}


def _decode(args: dict[str, Any]) -> dict[str, Any]:
    return {k: DatasetInput.from_proto(DatasetInputProto.FromString(base64.b64decode(v["__dataset__"])))
            if isinstance(v, dict) and "__dataset__" in v else v for k, v in args.items()}


class Tracker:
    """Thin wrapper over ``MlflowClient`` that knows the parent/child layout of a study; with ``spool`` (a folder),
    the calls that change runs are kept there while the tracking store does not answer, and sent once it does."""

    def __init__(self, uri: str, experiment_name: str, spool: Path | None = None) -> None:
        self.client = MlflowClient(tracking_uri=uri)
        self.uri = uri
        self.where = hide_password(uri)  # the URI for messages
        try:
            if spool is not None:
                _set_env(OPENING_ENV)
            self.experiment_id = self._experiment(experiment_name)
        except Exception as err:
            if unavailable(err):
                raise TunerError(f"the MLflow tracking store at tracking.uri={self.where} does not answer "
                                 f"({hide_password(str(err))[:300]}): start it (e.g. `mlflow server`), or set "
                                 "tracking.uri to one that runs") from err
            if not_mlflow(err):
                raise TunerError(f"tracking.uri={self.where} answers, but not as an MLflow tracking server (it "
                                 "returned a web page, not MLflow's API): check the address and port, e.g. "
                                 "tracking.uri=http://host:5000") from err
            raise
        finally:
            if spool is not None:
                _set_env(BOUNDED_ENV)
        self.spool_dir = spool
        self._spool: Spool | None = None
        self._ids: dict[str, str] = {}  # run key -> run id, of the runs this process sent from a spool
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._flusher: threading.Thread | None = None
        self._down_since: float | None = None
        if spool is not None:
            self.send_leftovers()

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

    # -- the spool: calls kept while the store does not answer ------------------------------------------------

    def _send(self, op: str, **args: Any) -> Any:
        """Call ``self._<op>(**args)`` now, or keep it in the spool: when calls are already kept (order), or
        when the store does not answer it. What a kept ``start_trial`` returns is the run's pending id."""
        call = getattr(self, f"_{op}")
        if self.spool_dir is None:
            return call(**args)
        with self._lock:
            if self._spool is not None and self._spool.ops:
                return self._keep(op, args)
        try:
            return call(**args)
        except Exception as err:
            if not unavailable(err):
                raise
            with self._lock:
                if self._down_since is None:
                    self._down_since = time.monotonic()
                    log.warning("the MLflow tracking store at %s does not answer (%s): the search goes on, and "
                                "its tracking calls are kept in %s and sent when the store answers again",
                                self.where, hide_password(str(err))[:300], self.spool_dir)
                return self._keep(op, args)

    def _keep(self, op: str, args: dict[str, Any]) -> str | None:
        if self._spool is None:
            self._spool = Spool.create(self.spool_dir)
        if "look" in args:
            args = {**args, "look": True}  # sent later, it first looks for what a lost reply may have made
        self._spool.keep(op, _encode(args))
        if self._flusher is None or not self._flusher.is_alive():
            self._flusher = threading.Thread(target=self._flush_loop, name="tuner-tracking-spool", daemon=True)
            self._flusher.start()
        return PENDING + args["key"] if op == "start_trial" else None

    def _flush_loop(self) -> None:
        """Send the spool, retrying with backoff, until it is empty."""
        delay = FIRST_RETRY_S
        while True:
            self._wake.wait(delay)
            self._wake.clear()
            if self._send_spool(self._spool):
                with self._lock:
                    if not self._spool.ops:
                        if self._down_since is not None:
                            log.warning("the MLflow tracking store at %s answers again after %.0f s: the calls "
                                        "kept meanwhile are sent", self.where, time.monotonic() - self._down_since)
                        self._down_since = None
                        return
                delay = FIRST_RETRY_S
            else:
                delay = min(2 * delay, MAX_RETRY_S)

    def _send_spool(self, spool: Spool) -> bool:
        """Send ``spool``'s calls in order; True once all are sent, False at the first the store does not answer."""
        while True:
            with self._lock:
                ops = list(spool.ops)
            if not ops:
                return True
            sent = 0
            try:
                for op in ops:
                    self._replay(op)
                    sent += 1
            except Exception as err:  # noqa: BLE001 - _replay raises only what the store did not answer
                log.debug("tracking spool: %s not sent yet (%s)", op["op"], err)
            finally:
                if sent:
                    with self._lock:
                        spool.sent(sent)
            if sent < len(ops):
                return False

    def _replay(self, op: dict[str, Any]) -> None:
        """Send one kept call; raises only when the store does not answer (a refused call is dropped, logged)."""
        name, args = op["op"], _decode(op["args"])
        for ref in ("run_id", "parent_id"):
            if str(args.get(ref, "")).startswith(PENDING):
                args[ref] = self.resolve(args[ref])
                if args[ref] is None:  # its run's creation was lost with a corrupt spool; nothing to attach to
                    log.warning("tracking spool: %s dropped, its run %s was never created", name, op["args"][ref])
                    return
        try:
            result = getattr(self, f"_{name}")(**args)
        except Exception as err:
            if unavailable(err):
                raise
            log.warning("tracking spool: MLflow refused the kept call %s (%s: %s); dropped", name,
                        type(err).__name__, hide_password(str(err))[:300])
            return
        if name == "start_trial":
            self._ids[args["key"]] = result

    def send_leftovers(self) -> None:
        """Send the spools that earlier (or dead) processes of this experiment left behind."""
        if self.spool_dir is None:
            return
        for spool in leftovers(self.spool_dir):
            n = len(spool.ops)
            done = self._send_spool(spool)
            spool.close()
            if n:
                log.info("sent %d tracking calls that %s kept%s", n - len(spool.ops), spool.path.name,
                         "" if done else f"; {len(spool.ops)} wait for the store to answer")

    def finish(self, timeout: float) -> bool:
        """The end of the invocation: send what is kept, waiting at most ``timeout`` s; True when nothing is left.
        What is left stays in the spool, and the next invocation of this experiment sends it."""
        if self.spool_dir is None:
            return True
        if self._spool is None or not self._spool.ops:
            self.send_leftovers()  # a dead worker's spool
        if self._spool is None:
            return True
        if self._spool.ops:
            log.info("sending %d kept tracking calls to %s (waiting at most tracking.flush_timeout=%g s)",
                     len(self._spool.ops), self.where, timeout)
        end = time.monotonic() + timeout
        while self._spool.ops and time.monotonic() < end:
            if self._flusher is None or not self._flusher.is_alive():
                self._flusher = threading.Thread(target=self._flush_loop, name="tuner-tracking-spool", daemon=True)
                self._flusher.start()
            self._wake.set()
            time.sleep(0.2)
        with self._lock:
            left = len(self._spool.ops)
            self._spool.close()
            self._spool = None
        if left:
            log.warning("%d tracking calls could not be sent to %s within tracking.flush_timeout=%g s: they stay "
                        "in %s, and the next tuner command of this experiment sends them", left, self.where,
                        timeout, self.spool_dir)
        else:
            self.send_leftovers()
        return not left

    def resolve(self, run_id: str | None) -> str | None:
        """The id of the run ``run_id`` names: itself, or for a pending id the run sent since; None if not sent."""
        if not run_id or not str(run_id).startswith(PENDING):
            return run_id
        key = str(run_id)[len(PENDING):]
        if key not in self._ids:
            found = self._find_run(key)
            if found is None:
                return None
            self._ids[key] = found
        return self._ids[key]

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
        run = self.client.create_run(self.experiment_id, run_name=name, tags=_tags({**SOURCE_TAGS, **(tags or {})}))
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

    def start_trial(self, parent_id: str, number: int, params: Mapping[str, Any], tags: Mapping[str, str]) -> str:
        """Create the nested child run of trial ``number`` and log its hyperparameters; returns its id (a pending
        id while the tracking store does not answer: ``resolve`` it)."""
        return self._send("start_trial", parent_id=parent_id, number=number, key=uuid.uuid4().hex,
                          params={k: hide_password(str(v))[:PARAM_MAX] for k, v in params.items()},
                          tags=_tags({**SOURCE_TAGS, TAG_PARENT: parent_id, TAG_TRIAL_NUMBER: str(number), **tags}),
                          look=False)

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
        tags = _tags({TAG_STATE: state, **(tags or {})})
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
        self._send("set_tags", run_id=run_id, tags=_tags(tags))

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
