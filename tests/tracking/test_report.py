"""What a practitioner looks at after a search, end to end against real Optuna, Keras and MLflow:
study plots and per-trial artifacts, the best model's insight, the model registry, the leaderboard."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import mlflow
import pytest

from tuner.app import export, join_study, run_study
from tuner.app import leaderboard as top_table
from tuner.errors import ConfigError
from tuner.submission.export import registry_name
from tuner.tracking import Tracker

pytestmark = pytest.mark.slow  # studies train; the leaderboard command runs in a subprocess
MLP_VS_CNN = ["+experiment=digits_mlp_vs_cnn", "search.space.filters=4", "search.space.kernel_size=3",
              "search.enqueue=[{arch:mlp},{arch:cnn}]"]


def _artifacts(client: mlflow.MlflowClient, run_id: str, folder: str | None = None) -> set[str]:
    return {a.path for a in client.list_artifacts(run_id, folder)}


def test_plots_trial_artifacts_insight_registry_and_leaderboard(make_cfg, workdir):
    cfg = make_cfg(*MLP_VS_CNN)
    run_study(cfg)
    study = join_study(cfg)
    assert {t.params["arch"] for t in study.trials} == {"mlp", "cnn"}
    client = mlflow.MlflowClient(cfg.tracking.uri)
    parent = study.user_attrs["mlflow_parent_run_id"]

    plots = _artifacts(client, parent, "plots")
    for name in ("optimization_history.png", "param_importances.png", "parallel_coordinate.png",
                 "intermediate_values.png", "slice.png", "arch_race.png", "study_plots.html", "skipped.txt"):
        assert f"plots/{name}" in plots, name
    skipped = client.download_artifacts(parent, "plots/skipped.txt", str(workdir))
    assert open(skipped).read() == "pareto_front: single-objective study\n"

    for t in study.trials:
        child = t.user_attrs["mlflow_run_id"]
        assert {"learning_curves.png", "model_summary.txt"} <= _artifacts(client, child)
        summary = open(client.download_artifacts(child, "model_summary.txt", str(workdir / str(t.number)))).read()
        assert f"total params {t.user_attrs['n_params']}" in summary
        assert ("Conv2D" in summary) == (t.params["arch"] == "cnn")

    board = list(csv.DictReader(open(workdir / "experiments/digits_mlp_vs_cnn/leaderboard.csv")))
    assert len(board) == 3
    for column in ("trial", "state", "value", "n_params", "epochs_run", "seconds", "mlflow_run_id", "hp.arch",
                   "hp.width", "hp.learning_rate", "hp.epochs", "hp.optimizer"):
        assert all(row[column] != "" for row in board), column
    assert {row["mlflow_run_id"] for row in board} == {t.user_attrs["mlflow_run_id"] for t in study.trials}

    table = top_table(make_cfg(*MLP_VS_CNN, "leaderboard.top=2")).splitlines()
    assert table[0] == "digits_mlp_vs_cnn: top 2 of 3 trials (maximize)"
    assert len(table) == 4 and "learning_rate" in table[1] and "mlflow_run_id" in table[1]
    assert table[2].split()[:2] == ["1", board[0]["trial"]]

    first = export(cfg)
    second = export(cfg)
    insight = _artifacts(client, parent, "best_model")
    assert {f"best_model/{n}" for n in ("confusion_matrix.png", "worst_misclassified.png", "saliency.png",
                                        "occlusion.png")} <= insight
    assert set(first.insight) <= insight
    name = registry_name("digits_mlp_vs_cnn")
    assert (first.model_version, second.model_version) == (1, 2)
    versions = client.search_model_versions(f"name='{name}'")
    assert sorted(int(v.version) for v in versions) == [1, 2]
    best = study.best_trial
    for v in versions:
        assert v.tags["tuner.trial"] == str(best.number) and v.run_id == best.user_attrs["mlflow_run_id"]
        logged = client.get_logged_model(Tracker(cfg.tracking.uri, cfg.name).trial_model(v.run_id))
        assert v.source == logged.artifact_location  # the trial's own MLflow model, which links to both versions
    assert json.loads(logged.tags["mlflow.modelVersions"]) == [{"name": name, "version": v} for v in (1, 2)]


def test_leaderboard_command(make_cfg, workdir):
    def leaderboard(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "tuner.leaderboard", "+experiment=digits_mlp",
                               f"experiments_dir={workdir / 'experiments'}", *args],
                              cwd=workdir, capture_output=True, text=True, timeout=300)

    missing = leaderboard()
    assert missing.returncode == 2
    assert "no study 'digits_mlp'" in missing.stdout + missing.stderr
    run_study(make_cfg("+experiment=digits_mlp", "search.n_trials=2"))
    shown = leaderboard("leaderboard.top=1")
    assert shown.returncode == 0, shown.stderr[-2000:]
    lines = shown.stdout.splitlines()
    assert lines[0] == "digits_mlp: top 1 of 2 trials (maximize)" and len(lines) == 3
    assert "COMPLETE" in lines[2]
    bad = leaderboard("leaderboard.top=0")
    assert bad.returncode == 2 and "leaderboard.top=0" in bad.stdout + bad.stderr
    with pytest.raises(ConfigError, match="leaderboard.top=0"):
        top_table(make_cfg("+experiment=digits_mlp", "leaderboard.top=0"))
