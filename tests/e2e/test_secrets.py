"""No secret in tracking: a study on a PostgreSQL role that needs its password (scram-sha-256 over
loopback TCP) runs and exports, then every MLflow field, every artifact, the whole ``mlflow.db``,
the log file and the printed output are searched for the password. The replay command, which
carries no password, still opens the study with ``PGPASSWORD``."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Iterator

import mlflow
import optuna
import psycopg
import pytest

from tuner import app
from tuner.config import compose
from tuner.study import storage_for
from tuner.study.records import REPLAY, replay_overrides

from ..conftest import TINY
from .test_postgres import as_postgres, free_port, pg_bin

pytestmark = pytest.mark.slow
PASSWORD = "Pw-9f3c1e-not-in-tracking"


@pytest.fixture
def password_postgres() -> Iterator[tuple[str, str]]:
    """A throwaway cluster whose role ``tuner`` must give its password over TCP; (URL with it, URL without)."""
    root = Path(tempfile.mkdtemp(prefix="tuner-pg-pw-"))
    pwfile = root / "pw"
    pwfile.write_text(PASSWORD + "\n")
    if os.geteuid() == 0:
        for path in (root, pwfile):
            shutil.chown(path, "postgres", "postgres")
    data, port = root / "data", free_port()
    subprocess.run(as_postgres(pg_bin("initdb"), "-D", str(data), "-U", "tuner", f"--pwfile={pwfile}",
                               "--auth-local=trust", "--auth-host=scram-sha-256"),
                   check=True, capture_output=True, timeout=120)
    options = f"-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={root}"
    subprocess.run(as_postgres(pg_bin("pg_ctl"), "-D", str(data), "-o", options, "-l", str(root / "log"), "-w",
                               "start"), check=True, capture_output=True, timeout=120)
    try:
        yield (f"postgresql://tuner:{PASSWORD}@127.0.0.1:{port}/postgres",
               f"postgresql://tuner@127.0.0.1:{port}/postgres")
    finally:
        subprocess.run(as_postgres(pg_bin("pg_ctl"), "-D", str(data), "-m", "immediate", "stop"),
                       capture_output=True, timeout=120)
        shutil.rmtree(root, ignore_errors=True)


def tuner(cwd: Path, module: str, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    proc = subprocess.run([sys.executable, "-m", module, *args], cwd=cwd, text=True, env=env, timeout=600,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert proc.returncode == 0, proc.stdout[-3000:]
    return proc.stdout


def mlflow_fields(uri: str) -> list[str]:
    """Every name, param, tag, description and metric key MLflow holds at ``uri``."""
    client = mlflow.MlflowClient(uri)
    fields: list[str] = []
    experiments = client.search_experiments(view_type=mlflow.entities.ViewType.ALL)
    for exp in experiments:
        fields += [exp.name, exp.artifact_location, *exp.tags.keys(), *exp.tags.values()]
    runs = client.search_runs([e.experiment_id for e in experiments], run_view_type=mlflow.entities.ViewType.ALL)
    for run in runs:
        data = run.data
        fields += [run.info.run_name, *data.params, *data.params.values(), *data.tags, *data.tags.values(),
                   *data.metrics]
        fields += [d.dataset.source for d in run.inputs.dataset_inputs]
    for logged in client.search_logged_models([e.experiment_id for e in experiments]):
        fields += [logged.name, *logged.tags, *logged.tags.values(), *logged.params.values()]
    for model in client.search_registered_models():
        fields += [model.name, model.description or "", *model.tags.values()]
        for version in client.search_model_versions(f"name = '{model.name}'"):
            fields += [version.source, version.description or "", *version.tags.values()]
    assert any("tuner.replay" == f for f in fields) and any(f.startswith("Replay: ") for f in fields)
    return fields


def files_holding(root: Path, secret: str) -> list[Path]:
    return sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file() and secret.encode() in p.read_bytes())


def test_no_password_in_mlflow_artifacts_or_logs_and_the_replay_runs_without_it(tmp_path, password_postgres,
                                                                                monkeypatch):
    url, url_without = password_postgres
    monkeypatch.delenv("PGPASSWORD", raising=False)
    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "no.pgpass"))
    with pytest.raises(psycopg.OperationalError, match="password"):  # the role really needs its password
        psycopg.connect(url_without, connect_timeout=10).close()

    db = tmp_path / "mlflow.db"
    args = ["+experiment=digits_mlp", *[o for o in TINY if not o.startswith("search.n_trials")], "search.n_trials=2",
            f"search.storage={url}", f"tracking.uri=sqlite:///{db}"]
    printed = tuner(tmp_path, "tuner", *args) + tuner(tmp_path, "tuner.export", *args, "export.insight=false")
    assert PASSWORD not in printed

    fields = mlflow_fields(f"sqlite:///{db}")
    assert [f for f in fields if PASSWORD in f] == []
    assert not files_holding(tmp_path / "mlruns", PASSWORD)
    assert any(p.name == "config.yaml" for p in (tmp_path / "mlruns").rglob("*"))
    assert PASSWORD.encode() not in db.read_bytes()
    logs = list((tmp_path / "experiments/digits_mlp/runs").glob("*/*.log"))
    assert len(logs) == 2 and all(log.stat().st_size > 0 for log in logs)
    # every file the run left (mlflow.db and its journals, mlruns/, experiments/): Hydra's .hydra/ record of
    # what was typed (like shell history) is the only place holding it
    assert {p.parts[-2] for p in files_holding(tmp_path, PASSWORD)} == {".hydra"}

    trials = optuna.load_study(study_name="digits_mlp", storage=url).trials
    assert [t.state.name for t in trials] == ["COMPLETE"] * 2
    command = trials[0].user_attrs[REPLAY]
    assert PASSWORD not in command and f"search.storage={url_without}" in command
    monkeypatch.setenv("PGPASSWORD", PASSWORD)  # where libpq finds the password the command leaves out
    again = compose(replay_overrides(command))
    storage = storage_for(app.study_ref(again))
    assert "digits_mlp" in {s.study_name for s in optuna.get_all_study_summaries(storage)}
