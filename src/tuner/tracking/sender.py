"""Sending a study's tracking calls so that the tracking store never stops the search: each call is bounded
(``BOUNDED_ENV``), and a call the store does not answer (``unavailable``), with every call after it, is kept in a
local spool (``tuner.tracking.spool``) that a background thread sends, in order, once the store answers again.

Example::

    sender = Sender(Path("experiments/digits_cnn/spool"), "http://mlflow:5000", tracker_call)
    run_id = sender.send("start_trial", {"parent_id": p, "key": "k1", ...})  # PENDING + "k1" while it is down
    sender.finish(60)  # the end of the invocation: wait up to 60 s for the rest
"""

from __future__ import annotations

import base64
import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any, Callable

from mlflow.entities import DatasetInput
from mlflow.exceptions import MlflowException
from mlflow.protos.service_pb2 import DatasetInput as DatasetInputProto

from tuner.config import hide_password
from tuner.errors import disk_full
from tuner.tracking.spool import Spool, leftovers

log = logging.getLogger(__name__)
PENDING = "pending-"  # an id whose run (or model) is still in the spool: PENDING + the key it is tagged with
# A study's calls to an HTTP tracking server: one try each, 10 s at most (MLflow's defaults retry for minutes);
# a call that fails goes to the spool, which retries with backoff. Opening the experiment, before anything
# else, may take a slow server's time (3 tries, 30 s each). A user's own setting of these wins.
BOUNDED_ENV = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "10"}
OPENING_ENV = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2", "MLFLOW_HTTP_REQUEST_TIMEOUT": "30"}
_USER_ENV = {key: os.environ[key] for key in BOUNDED_ENV if key in os.environ}
FIRST_RETRY_S, MAX_RETRY_S = 2.0, 60.0
REFS = ("run_id", "parent_id")  # the arguments that name a run, maybe by a pending id


def _chain(err: BaseException | None) -> list[BaseException]:
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


def why(err: BaseException) -> str:
    """What a store that does not answer said, short: ``[Errno 111] Connection refused``, ``read timed out``,
    ``database is locked``, else the first line of the error."""
    import re

    text = hide_password(str(err))
    for pattern in (r"\[Errno -?\d+\] [^'\")(]+", r"[Rr]ead timed out", r"timed out", r"database is locked",
                    r"error code \d+ != 200"):
        found = re.search(pattern, text)
        if found:
            return found.group(0).strip()
    return text.splitlines()[0][:200] if text else type(err).__name__


def not_mlflow(err: BaseException) -> bool:
    """Whether ``err`` says something answered that is not an MLflow tracking server (an HTML page, not JSON)."""
    for e in _chain(err):
        text = str(e).lower()
        if "<html" in text or "<!doctype" in text or isinstance(e, json.JSONDecodeError):
            return True
    return False


def set_env(values: dict[str, str]) -> None:
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


class Sender:
    """Calls ``call(op, args)`` now, or keeps it in a spool under ``folder`` to send later (``where``: the store,
    for messages; ``resolve``: a pending run id to the run's id once it is sent, None while it is not)."""

    def __init__(self, folder: Path, where: str, call: Callable[[str, dict[str, Any]], Any],
                 resolve: Callable[[str], str | None]) -> None:
        self.folder, self.where, self.call, self.resolve = folder, where, call, resolve
        self.ids: dict[str, str] = {}  # run key -> run id, of the runs this process sent from a spool
        self._spool: Spool | None = None
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._flusher: threading.Thread | None = None
        self._down_since: float | None = None

    def send(self, op: str, args: dict[str, Any]) -> Any:
        """``call(op, args)`` now, or kept: when calls are kept already (order), or when the store does not answer
        it. A kept ``start_trial`` returns the run's pending id, any other kept call None."""
        with self._lock:
            if self._spool is not None and self._spool.ops:
                return self._keep(op, args)
        try:
            return self.call(op, args)
        except Exception as err:
            if not unavailable(err):
                raise
            with self._lock:
                if self._down_since is None:
                    self._down_since = time.monotonic()
                    log.warning("the MLflow tracking store at %s does not answer (%s): the search goes on, and "
                                "its tracking calls are kept in %s and sent when the store answers again",
                                self.where, why(err), self.folder)
                return self._keep(op, args)

    def _keep(self, op: str, args: dict[str, Any]) -> str | None:
        if self._spool is None:
            self._spool = Spool.create(self.folder)
        if "look" in args:
            args = {**args, "look": True}  # sent later, it first looks for what a lost reply may have made
        self._spool.keep(op, _encode(args))
        self._start()
        return PENDING + args["key"] if op == "start_trial" else None

    def _start(self) -> None:
        if self._flusher is None or not self._flusher.is_alive():
            self._flusher = threading.Thread(target=self._flush_loop, args=(self._spool,),
                                             name="tuner-tracking-spool", daemon=True)
            self._flusher.start()

    def _flush_loop(self, spool: Spool) -> None:
        """Send ``spool``, retrying with backoff, until it is empty."""
        delay = FIRST_RETRY_S
        while True:
            self._wake.wait(delay)
            self._wake.clear()
            if self._send_spool(spool):
                with self._lock:
                    if not spool.ops:
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
                log.debug("tracking spool: %s not sent yet (%s)", ops[sent]["op"], err)
            finally:
                if sent:
                    with self._lock:
                        spool.sent(sent)
            if sent < len(ops):
                return False

    def _replay(self, op: dict[str, Any]) -> None:
        """Send one kept call; raises only when the store does not answer (a refused call is dropped, logged)."""
        name, args = op["op"], _decode(op["args"])
        for ref in REFS:
            if str(args.get(ref, "")).startswith(PENDING):
                args[ref] = self.resolve(args[ref])
                if args[ref] is None:  # its run's creation was lost with a corrupt spool; nothing to attach to
                    log.warning("tracking spool: %s dropped, its run %s was never created", name, op["args"][ref])
                    return
        try:
            result = self.call(name, args)
        except Exception as err:
            if unavailable(err):
                raise
            log.warning("tracking spool: MLflow refused the kept call %s (%s: %s); dropped", name,
                        type(err).__name__, hide_password(str(err))[:300])
            return
        if name == "start_trial":
            self.ids[args["key"]] = result

    def send_leftovers(self) -> None:
        """Send the spools that earlier (or dead) processes of this experiment left behind."""
        for spool in leftovers(self.folder):
            n = len(spool.ops)
            done = self._send_spool(spool)
            spool.close()
            if n:
                log.info("sent %d tracking calls that %s kept%s", n - len(spool.ops), spool.path.name,
                         "" if done else f"; {len(spool.ops)} wait for the store to answer")

    def finish(self, timeout: float) -> bool:
        """The end of the invocation: send what is kept, waiting at most ``timeout`` s; True when nothing is left.
        What is left stays in the spool, and the next invocation of this experiment sends it."""
        spool = self._spool
        if spool is None or not spool.ops:
            self.send_leftovers()  # a dead worker's spool
        if spool is None:
            return True
        if spool.ops:
            log.info("sending %d kept tracking calls to %s (waiting at most tracking.flush_timeout=%g s)",
                     len(spool.ops), self.where, timeout)
        end = time.monotonic() + timeout
        while spool.ops and time.monotonic() < end:
            self._start()
            self._wake.set()
            time.sleep(0.2)
        with self._lock:
            left = len(spool.ops)
            spool.close()
            self._spool = None
        if left:
            log.warning("%d tracking calls could not be sent to %s within tracking.flush_timeout=%g s: they stay "
                        "in %s, and the next tuner command of this experiment sends them", left, self.where,
                        timeout, self.folder)
        else:
            self.send_leftovers()
        return not left
