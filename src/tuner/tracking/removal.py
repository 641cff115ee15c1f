"""Deleting what MLflow holds for one tuner experiment: its runs, the experiment, its registered model.

Runs and the experiment go to MLflow's trash (``mlflow gc`` purges them for good). The experiment is
renamed ``<name>.deleted-<UTC time>`` first, so that the name is free: the next study of that name
gets a new, empty experiment instead of the old one restored. The registered model is deleted.

Example::

    removed = delete_experiment("sqlite:///mlflow.db", "digits_cnn", "tuner-digits_cnn")
    removed.runs  # how many runs were deleted
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from mlflow.entities import ViewType
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import RESOURCE_DOES_NOT_EXIST, ErrorCode
from mlflow.tracking import MlflowClient

from tuner.config import hide_password
from tuner.errors import TunerError

PAGE = 1000


@dataclass(frozen=True)
class ExperimentRemoval:
    """What ``delete_experiment`` removed: the experiment's id and its name in the trash (None when there was
    no such experiment), how many runs, and the registered model's name (None when there was none)."""

    experiment_id: str | None
    trashed_as: str | None
    runs: int
    registered_model: str | None


def delete_experiment(uri: str, name: str, registered_model: str) -> ExperimentRemoval:
    """Delete the MLflow experiment ``name`` at ``uri`` with every run in it, and the registered model
    ``registered_model``; either may be missing."""
    client = MlflowClient(tracking_uri=uri)
    try:
        found = client.get_experiment_by_name(name)
        runs = 0
        trashed = None
        if found is not None:
            if found.lifecycle_stage == "deleted":
                client.restore_experiment(found.experiment_id)
            runs = _delete_runs(client, found.experiment_id)
            trashed = f"{name}.deleted-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}"
            client.rename_experiment(found.experiment_id, trashed)
            client.delete_experiment(found.experiment_id)
        return ExperimentRemoval(found.experiment_id if found else None, trashed, runs,
                                 registered_model if _delete_registered_model(client, registered_model) else None)
    except MlflowException as err:
        raise TunerError(f"cannot delete MLflow experiment '{name}' at tracking.uri={hide_password(uri)}: "
                         f"{hide_password(err.message)}; check tracking.uri, or delete it in the MLflow UI") from err


def _delete_runs(client: MlflowClient, experiment_id: str) -> int:
    """Delete every active run of the experiment; how many."""
    ids: list[str] = []
    token = None
    while True:
        page = client.search_runs([experiment_id], run_view_type=ViewType.ACTIVE_ONLY, max_results=PAGE,
                                  page_token=token)
        ids += [r.info.run_id for r in page]
        token = page.token
        if not token:
            break
    for run_id in ids:
        client.delete_run(run_id)
    return len(ids)


def _delete_registered_model(client: MlflowClient, name: str) -> bool:
    try:
        client.delete_registered_model(name)
    except MlflowException as err:
        if err.error_code == ErrorCode.Name(RESOURCE_DOES_NOT_EXIST):
            return False
        raise
    return True
