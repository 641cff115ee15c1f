"""Study plots and figures on real in-memory Optuna studies (no Keras, no training)."""

from __future__ import annotations

import optuna
import pytest
from PIL import Image

from tuner.tracking.figures import learning_curves
from tuner.tracking.plots import best_by_arch, study_plots, why_not

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _mlp_vs_cnn(trial: optuna.Trial) -> float:
    """CNNs score 0.9 + width/1000, MLPs 0.5 + width/1000; three reported epochs, prunable."""
    arch = trial.suggest_categorical("arch", ["mlp", "cnn"])
    width = trial.suggest_int("width", 8, 64)
    if arch == "cnn":
        trial.suggest_categorical("filters", [4, 8])
    value = (0.9 if arch == "cnn" else 0.5) + width / 1000
    for epoch in range(3):
        trial.report(value - 0.1 * (2 - epoch), epoch)
        if trial.should_prune():
            raise optuna.TrialPruned()
    return value


def _png_size(path):
    with Image.open(path) as img:
        return img.size


def test_every_plot_of_a_study_with_pruned_trials_and_two_architectures(tmp_path):
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=1),
                                pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=0))
    study.enqueue_trial({"arch": "mlp", "width": 32})  # both architectures complete before pruning starts
    study.enqueue_trial({"arch": "cnn", "width": 32, "filters": 4})
    study.optimize(_mlp_vs_cnn, n_trials=14)
    assert {t.state.name for t in study.trials} == {"COMPLETE", "PRUNED"}

    report = study_plots(study, tmp_path, "val_accuracy")
    names = sorted(p.name for p in report.files)
    assert names == sorted(["optimization_history.png", "param_importances.png", "parallel_coordinate.png",
                            "intermediate_values.png", "slice.png", "arch_race.png", "study_plots.html"])
    assert report.skipped == {"pareto_front": "single-objective study"}
    for path in report.files:
        if path.suffix == ".png":
            width, height = _png_size(path)
            assert width > 200 and height > 150, path.name
    page = (tmp_path / "study_plots.html").read_text()
    assert page.count("<h2>") == 4 and "plotly" in page and "parallel coordinate" in page


def test_best_value_by_architecture_is_a_running_best_per_arch():
    study = optuna.create_study(direction="maximize")
    for arch, width in [("mlp", 10), ("cnn", 8), ("mlp", 50), ("mlp", 20), ("cnn", 30)]:
        study.enqueue_trial({"arch": arch, "width": width, "filters": 4})
    study.optimize(lambda t: _mlp_vs_cnn(t), n_trials=5)
    race = best_by_arch(study)
    assert [(n, round(v, 3)) for n, _, v in race["mlp"]] == [(0, 0.51), (2, 0.55), (3, 0.55)]
    assert [(n, round(v, 3)) for n, _, v in race["cnn"]] == [(1, 0.908), (4, 0.93)]
    seconds = [s for _, s, _ in race["mlp"]]
    assert seconds == sorted(seconds) and seconds[0] >= 0


def test_a_study_too_small_for_some_plots_skips_them_with_a_reason(tmp_path):
    empty = optuna.create_study()
    report = study_plots(empty, tmp_path / "empty", "val_loss")
    assert report.files == []
    assert report.skipped["optimization_history"] == "no completed trial yet"

    one = optuna.create_study(direction="maximize")
    one.optimize(lambda t: t.suggest_float("lr", 1e-4, 1e-1, log=True), n_trials=1)
    report = study_plots(one, tmp_path / "one", "val_accuracy")
    assert "needs 2 completed trials" in report.skipped["param_importances"]
    assert "intermediate" in report.skipped["intermediate_values"]
    assert "arch_race" in report.skipped
    assert (tmp_path / "one/optimization_history.png").exists()
    assert not (tmp_path / "one/param_importances.png").exists()

    pinned = optuna.create_study()
    pinned.optimize(lambda t: 1.0, n_trials=3)
    assert why_not("param_importances", pinned).startswith("needs 2 completed trials with varying parameters")


def test_multi_objective_study_gets_a_pareto_front(tmp_path):
    study = optuna.create_study(directions=["maximize", "minimize"])
    with pytest.warns(optuna.exceptions.ExperimentalWarning):
        study.set_metric_names(["val_accuracy", "n_params"])
    study.optimize(lambda t: (t.suggest_float("x", 0, 1), t.suggest_float("y", 0, 1)), n_trials=8)
    report = study_plots(study, tmp_path, "val_accuracy")
    names = {p.name for p in report.files}
    assert {"pareto_front.png", "optimization_history.png", "param_importances.png"} <= names
    assert "pareto_front" not in report.skipped


def test_learning_curves_of_a_short_and_a_cut_trial(tmp_path):
    epochs = [{"loss": 1.0 / (e + 1), "val_loss": 1.2 / (e + 1), "accuracy": 0.5 + e / 10,
               "val_accuracy": 0.45 + e / 10} for e in range(3)]
    path = learning_curves(epochs, tmp_path / "curve.png", "trial 7")
    assert _png_size(path)[0] > 400
    assert learning_curves(epochs[:1], tmp_path / "one.png").exists()
    with pytest.raises(FileNotFoundError):
        learning_curves(epochs, tmp_path / "missing/dir/curve.png")


def test_a_plot_that_raises_is_recorded_and_the_rest_are_drawn(tmp_path, caplog):
    study = optuna.create_study(direction="maximize")
    study.optimize(lambda t: t.suggest_float("x", 0, 1) + t.suggest_float("y", 0, 1), n_trials=4)
    (tmp_path / "slice.png").mkdir()  # a folder where the PNG should go: saving it fails for real
    report = study_plots(study, tmp_path, "val_accuracy")
    assert report.skipped["slice"].startswith("failed: IsADirectoryError")
    assert "plot slice failed: IsADirectoryError" in caplog.text
    assert {"optimization_history.png", "param_importances.png", "study_plots.html"} <= {p.name for p in report.files}
