"""What people look at after a search, logged to MLflow: a trial's learning curves and
model summary on its child run; the leaderboard, best trial, composed config and study
plots on the parent run. Never imports Keras:
models arrive as their summary text, training as its per-epoch logs.

Example::

    log_trial(tracker, child_id, 3, epochs=[{"loss": 0.5, "val_loss": 0.6, ...}], summary="model cnn ...")
    log_study_plots(study, tracker, parent_id, "val_accuracy")
"""

from __future__ import annotations

import logging
import tempfile
from collections import Counter
from pathlib import Path
from typing import Mapping, Sequence

import optuna

from tuner.study import best_completed, finished_count, leaderboard, metric_names
from tuner.study.records import MLFLOW_RUN_ID, TAG_NOTE, hparams
from tuner.tracking.tracker import Tracker

log = logging.getLogger(__name__)
PLOTS_DIR = "plots"


def log_trial(tracker: Tracker, run_id: str, number: int, epochs: Sequence[Mapping[str, float]],
              summary: str | None) -> None:
    """``learning_curves.png`` (when an epoch ran) and ``model_summary.txt`` (when the model was built).

    Runs in the objective's ``finally``: an error here is logged as a warning and never changes the
    trial's outcome.
    """
    from tuner.tracking.figures import learning_curves

    try:
        if summary:
            tracker.log_text(run_id, summary, "model_summary.txt")
        if epochs:
            with tempfile.TemporaryDirectory(prefix="tuner-curve-") as tmp:
                path = learning_curves(epochs, Path(tmp) / "learning_curves.png", f"trial {number}")
                tracker.log_file(run_id, path)
    except Exception as err:  # noqa: BLE001 - logged; a figure must not fail the trial it describes
        log.warning("trial %d: learning curve / model summary not logged: %s: %s", number, type(err).__name__, err)


def log_study_plots(study: optuna.Study, tracker: Tracker, run_id: str, metric: str) -> list[str]:
    """Draw the study plots and log them under ``plots/`` of the parent run; returns the file names.

    ``plots/skipped.txt`` names the plots left out and why, so the UI says why one is missing
    (rewritten every time, so it never describes an older invocation).
    """
    from tuner.tracking.plots import study_plots

    with tempfile.TemporaryDirectory(prefix="tuner-plots-") as tmp:
        out = Path(tmp) / PLOTS_DIR
        report = study_plots(study, out, metric)
        reasons = "".join(f"{k}: {v}\n" for k, v in report.skipped.items()) or "every plot was drawn\n"
        (out / "skipped.txt").write_text(reasons)
        tracker.log_folder(run_id, out, PLOTS_DIR)
    return [p.name for p in report.files]


def summarize(study: optuna.Study, tracker: Tracker, parent_id: str, folder: Path, config_yaml: str,
              metric: str) -> Path:
    """Write ``leaderboard.csv`` (and ``pareto_front.csv`` for several objectives) into ``folder`` and log them,
    the composed config (``config_yaml``), the best trial and the study plots (of ``metric``) to the parent run."""
    board = leaderboard(study)
    path = folder / "leaderboard.csv"
    board.to_csv(path, index=False)
    tracker.log_file(parent_id, path)
    if len(study.directions) > 1:
        front = folder / "pareto_front.csv"
        board[board["pareto"]].to_csv(front, index=False)
        tracker.log_file(parent_id, front)
    if config_yaml:
        tracker.log_text(parent_id, config_yaml, "config.yaml")
    best = best_completed(study)
    if best:
        top = best[0]
        tracker.log_json(parent_id, {"trial": top.number, "value": top.values[0],
                                     "values": dict(zip(metric_names(study), top.values)),
                                     "hparams": hparams(top)}, "best_params.json")
        tracker.log_metrics(parent_id, {f"best_{metric}": top.values[0], "finished_trials": finished_count(study)})
        tracker.set_tags(parent_id, {"tuner.best_trial": str(top.number),
                                     "tuner.best_run_id": str(top.user_attrs.get(MLFLOW_RUN_ID))})
    plots = log_study_plots(study, tracker, parent_id, metric)
    tracker.set_tags(parent_id, {TAG_NOTE: study_note(study, metric, plots)})
    return path


def study_note(study: optuna.Study, metric: str, plots: Sequence[str]) -> str:
    """The parent run's description (Markdown): the trials by state, the best trial, where the plots are.

    Example::

        study_note(study, "val_accuracy", ["optimization_history.png"])
        # 'Study **digits_cnn**: 3 trials (2 COMPLETE, 1 PRUNED).\n\nBest val_accuracy **0.9812**: trial 1 ...'
    """
    trials = study.get_trials(deepcopy=False)
    states = Counter(t.state.name for t in trials)
    by_state = ", ".join(f"{n} {s}" for s, n in sorted(states.items(), key=lambda kv: (-kv[1], kv[0])))
    lines = [f"Study **{study.study_name}**: {len(trials)} trials ({by_state or 'none yet'})."]
    best = best_completed(study)
    if best:
        top = best[0]
        lines.append(f"Best {metric} **{top.values[0]:.4f}**: trial {top.number} (run `trial-{top.number:04d}`); "
                     "its hyperparameters in `best_params.json`.")
    else:
        lines.append("No trial has completed yet.")
    lines.append(f"Every trial, best first: `leaderboard.csv`. The composed config: `config.yaml`. Study plots "
                 f"under `{PLOTS_DIR}/` of this run's artifacts ({', '.join(plots) or 'none drawn yet'}; "
                 f"`{PLOTS_DIR}/skipped.txt` says why any is missing).")
    return "\n\n".join(lines)
