"""Which registered version of ``tuner-<experiment>`` a prediction uses, and loading it with its metadata.

Example::

    model, meta, version = load_registered(tracker, "tuner-digits_cnn", None, Path(tmp))  # the latest version
    meta["class_names"]  # ['0', '1', ..., '9']
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Mapping

from mlflow.exceptions import MlflowException
from mlflow.utils.mlflow_tags import MLFLOW_MODEL_VERSIONS

from tuner.config import hide_password
from tuner.errors import TunerError
from tuner.tracking.logged_model import load_keras_with_metadata
from tuner.tracking.tracker import Tracker, masked_tags

URI = re.compile(r"^models:/(?P<name>[^/]+)/(?P<version>\d+|latest)$")
MODEL_ID = re.compile(r"(?:^|[/:])(m-[0-9a-f]{32})(?:/|$)")  # a LoggedModel's id inside a version's source


def parse_model_uri(uri: str) -> tuple[str, int | None]:
    """``models:/<name>/<version>`` (or ``/latest``) as ``(name, version or None)``; a TunerError naming
    predict.model otherwise."""
    found = URI.match(uri)
    if not found:
        raise TunerError(f"predict.model={uri!r} is not a registered model version; give models:/<name>/<version>, "
                         "e.g. models:/tuner-digits_cnn/3, or leave it unset for the last export's")
    version = found["version"]
    return found["name"], None if version == "latest" else int(version)


def load_registered(tracker: Tracker, name: str, version: int | None, dst: Path) -> tuple[Any, dict[str, Any], int]:
    """Version ``version`` (None: the latest) of the registered model ``name`` as a ``keras.Model``, its tuner
    metadata and its version number. A TunerError says how to get one when there is none."""
    experiment = name.removeprefix("tuner-")
    try:
        versions = tracker.client.search_model_versions(f"name = '{name}'")
    except MlflowException as err:
        raise TunerError(f"cannot read the registered model {name} at {tracker.where} ({err})") from err
    if not versions:
        raise TunerError(f"no model is registered as {name} at {tracker.where}: export one first with "
                         f"`python -m tuner.export +experiment={experiment}` (export.register=true, the default)")
    by_number = {int(v.version): v for v in versions}
    number = version if version is not None else max(by_number)
    if number not in by_number:
        raise TunerError(f"{name} has no version {number} at {tracker.where}; it has versions "
                         f"{', '.join(map(str, sorted(by_number)))}")
    chosen = by_number[number]
    found = MODEL_ID.search(str(chosen.source or ""))
    model_id = chosen.model_id or (found.group(1) if found else None)  # the SQL registry keeps only the source
    if model_id is None:
        raise TunerError(f"{name} version {number} was not registered from a logged model (source {chosen.source}); "
                         "export again to register one, or name another with predict.model")
    model, meta = load_keras_with_metadata(tracker.client, tracker.uri, model_id, dst)
    return model, meta, number


def register_model(tracker: Tracker, name: str, model_id: str, run_id: str, tags: Mapping[str, str]) -> int:
    """Register the LoggedModel ``model_id`` (whose source run is ``run_id``) as a new version of the registered
    model ``name`` (created on first use); returns the version number. The version loads with
    ``mlflow.pyfunc.load_model("models:/<name>/<version>")``.

    Example::

        register_model(tracker, "tuner-digits_cnn", tracker.trial_model(child), child, {"tuner.trial": "3"})  # 1
    """
    from mlflow.protos.databricks_pb2 import RESOURCE_DOES_NOT_EXIST, ErrorCode

    try:
        try:
            tracker.client.get_registered_model(name)
        except MlflowException as err:
            if err.error_code != ErrorCode.Name(RESOURCE_DOES_NOT_EXIST):
                raise
            tracker.client.create_registered_model(
                name, description=f"Best models exported from tuner experiment {name.removeprefix('tuner-')}")
        # The source is the LoggedModel's artifact location, not ``models:/<model_id>``: MLflow's SQL registry
        # looks a ``models:/`` source up through the global tracking URI, which need not be this tracker's.
        logged = tracker.client.get_logged_model(model_id)
        version = tracker.client.create_model_version(
            name, source=logged.artifact_location, run_id=run_id, model_id=model_id,
            tags=masked_tags(tags), await_creation_for=0,
        )
        # the link MLflow's UI follows from the model to its versions (the SQL registry keeps no model id)
        links = json.loads(logged.tags.get(MLFLOW_MODEL_VERSIONS, "[]"))
        links.append({"name": name, "version": version.version})
        tracker.client.set_logged_model_tags(model_id, {MLFLOW_MODEL_VERSIONS: json.dumps(links)})
    except MlflowException as err:
        raise TunerError(f"cannot register model '{name}' at tracking.uri={tracker.where}: "
                         f"{hide_password(err.message)}; "
                         "set export.register=false to export without the model registry") from err
    return int(version.version)
