"""Links into the MLflow UI: an experiment's runs in its model-training view, and what serves that page.

Example::

    ui_link("http://mlflow:5000", "3")  # 'http://mlflow:5000/#/experiments/3/runs?workflowType=machine_learning'
    ui_hint("sqlite:///mlflow.db")      # '`mlflow ui` started in this folder'
"""

from __future__ import annotations

from urllib.parse import urlsplit

from tuner.config import hide_password

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
