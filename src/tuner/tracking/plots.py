"""Study plots for the parent run: Optuna's figures as PNG (matplotlib, Agg) plus one
interactive HTML page (plotly), and the MLP-vs-CNN race. Never imports Keras.

A plot that the study cannot support yet (importances before two completed trials
with varying parameters, a Pareto front of a single-objective study) is skipped
with its reason in the returned ``skipped`` map and the log.

Example::

    report = study_plots(study, Path("out"), metric="val_accuracy")
    report.files      # [Path("out/optimization_history.png"), ...]
    report.skipped    # {"param_importances": "needs 2 completed trials ..."}
"""

from __future__ import annotations

import logging
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import optuna
from optuna.trial import FrozenTrial, TrialState

from tuner.tracking.style import DPI, pyplot

log = logging.getLogger(__name__)
plt = pyplot()
logging.getLogger("matplotlib.category").setLevel(logging.WARNING)  # Optuna plots categorical params as strings
HTML_NAME = "study_plots.html"
PLOTS = ("optimization_history", "param_importances", "parallel_coordinate", "intermediate_values", "slice",
         "pareto_front")
# Figures worth hovering, zooming and filtering: these also go into the HTML page.
INTERACTIVE = ("optimization_history", "parallel_coordinate", "intermediate_values", "slice", "pareto_front")


@dataclass
class PlotReport:
    """What ``study_plots`` wrote, and why the rest was left out."""

    files: list[Path] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)


def _completed(study: optuna.Study) -> list[FrozenTrial]:
    return study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))


def _varying_params(trials: list[FrozenTrial]) -> set[str]:
    values: dict[str, set[str]] = {}
    for t in trials:
        for k, v in t.params.items():
            values.setdefault(k, set()).add(repr(v))
    return {k for k, seen in values.items() if len(seen) > 1}


def why_not(name: str, study: optuna.Study) -> str | None:
    """The reason plot ``name`` cannot be drawn for ``study`` now, or None when it can."""
    done = _completed(study)
    multi = len(study.directions) > 1
    if name == "pareto_front":
        return None if multi and done else "single-objective study" if not multi else "no completed trial yet"
    if name == "intermediate_values":
        has = any(t.intermediate_values for t in study.get_trials(deepcopy=False))
        return None if has else "no trial has reported an intermediate value yet"
    if not done:
        return "no completed trial yet"
    if name == "param_importances":
        if len(done) < 2 or not _varying_params(done):
            return f"needs 2 completed trials with varying parameters (has {len(done)} completed)"
    if name in ("parallel_coordinate", "slice") and not any(t.params for t in done):
        return "no searched parameter (every hyperparameter is pinned)"
    return None


def _objective(study: optuna.Study, metric: str) -> tuple[Callable[[FrozenTrial], float] | None, str]:
    """Single objective: Optuna's default. Several: the first one, named (Optuna requires a target)."""
    if len(study.directions) == 1:
        return None, metric
    names = study.metric_names or [f"objective {i}" for i in range(len(study.directions))]
    return (lambda t: t.values[0]), str(names[0])


def _draw(name: str, study: optuna.Study, metric: str, backend: Any) -> Any:
    target, target_name = _objective(study, metric)
    kw: dict[str, Any] = {"target": target, "target_name": target_name} if target else {"target_name": target_name}
    if name == "optimization_history":
        return backend.plot_optimization_history(study, **kw)
    if name == "param_importances":
        return backend.plot_param_importances(study, **kw)
    if name == "parallel_coordinate":
        return backend.plot_parallel_coordinate(study, **kw)
    if name == "slice":
        return backend.plot_slice(study, **kw)
    if name == "intermediate_values":
        return backend.plot_intermediate_values(study)
    if name == "pareto_front":
        return backend.plot_pareto_front(study, target_names=study.metric_names)
    raise ValueError(f"unknown plot {name!r}")


def _save_axes(axes: Any, path: Path) -> Path:
    first = axes.flat[0] if hasattr(axes, "flat") else axes
    fig = first.get_figure()
    try:
        fig.savefig(path, dpi=DPI, bbox_inches="tight")
    finally:
        plt.close(fig)
    return path


def _mark_pruned(ax: Any, study: optuna.Study) -> None:
    """A red cross where each pruned trial was cut, so early stops stand out from short budgets."""
    cut = [(max(t.intermediate_values), t.intermediate_values[max(t.intermediate_values)])
           for t in study.get_trials(deepcopy=False, states=(TrialState.PRUNED,)) if t.intermediate_values]
    if cut:
        steps, values = zip(*cut)
        ax.scatter(steps, values, marker="x", s=60, color="red", zorder=5, label="pruned here")


def study_plots(study: optuna.Study, out: Path, metric: str, html: bool = True) -> PlotReport:
    """Write every plot the study supports into ``out``: PNGs, the HTML page, the MLP-vs-CNN race.

    A plot that raises is recorded in ``skipped`` with its error and logged as a warning: a figure
    must never cost the study that it describes (this runs in the study's ``finally``).
    """
    out.mkdir(parents=True, exist_ok=True)
    report = PlotReport()
    drawable: list[str] = []

    def attempt(name: str, draw: Callable[[], Path | None], reason_if_none: str = "") -> None:
        try:
            path = draw()
        except Exception as err:  # noqa: BLE001 - recorded and logged, see the docstring
            plt.close("all")
            report.skipped[name] = f"failed: {type(err).__name__}: {str(err).splitlines()[0][:300]}"
            log.warning("plot %s %s", name, report.skipped[name])
            return
        if path is None:
            report.skipped[name] = reason_if_none
        else:
            report.files.append(path)

    def optuna_png(name: str) -> Path:
        axes = _draw(name, study, metric, optuna.visualization.matplotlib)
        if name == "intermediate_values":
            _mark_pruned(axes, study)
        return _save_axes(axes, out / f"{name}.png")

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        warnings.simplefilter("ignore", UserWarning)  # matplotlib: a parameter with one value has equal limits
        for name in PLOTS:
            reason = why_not(name, study)
            if reason:
                report.skipped[name] = reason
                continue
            drawable.append(name)
            attempt(name, lambda: optuna_png(name))
        attempt("arch_race", lambda: arch_race(study, out / "arch_race.png", metric),
                "the trials do not span more than one architecture")
        if html and drawable:
            shown = [n for n in drawable if n in INTERACTIVE] or drawable
            attempt("html", lambda: _html_page(study, shown, out / HTML_NAME, metric))
    for name, reason in report.skipped.items():
        if not reason.startswith("failed"):
            log.info("plot %s skipped: %s", name, reason)
    return report


def _html_page(study: optuna.Study, names: list[str], path: Path, metric: str) -> Path:
    """One self-contained page (plotly.js embedded once) with one interactive figure per plot."""
    parts = []
    for i, name in enumerate(names):
        fig = _draw(name, study, metric, optuna.visualization)
        parts.append(f"<h2>{name.replace('_', ' ')}</h2>" + fig.to_html(full_html=False, include_plotlyjs=i == 0))
    title = f"Study {study.study_name}"
    path.write_text(f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title></head>"
                    f"<body><h1>{title}</h1>{''.join(parts)}</body></html>")
    return path


def best_by_arch(study: optuna.Study, param: str = "arch") -> dict[str, list[tuple[int, float, float]]]:
    """Per architecture: ``(trial number, seconds since the study began, best value so far)`` at each
    completed trial of that architecture. Empty unless the trials span two or more architectures."""
    if len(study.directions) != 1:
        return {}
    maximize = study.direction == optuna.study.StudyDirection.MAXIMIZE
    done = sorted((t for t in _completed(study) if param in t.params and t.value is not None
                   and math.isfinite(t.value)), key=lambda t: t.number)
    if len({t.params[param] for t in done}) < 2:
        return {}
    starts = [t.datetime_start for t in study.get_trials(deepcopy=False) if t.datetime_start]
    origin = min(starts)
    race: dict[str, list[tuple[int, float, float]]] = {}
    for t in done:
        steps = race.setdefault(str(t.params[param]), [])
        best = t.value if not steps else (max if maximize else min)(steps[-1][2], t.value)
        seconds = ((t.datetime_complete or t.datetime_start) - origin).total_seconds()
        steps.append((t.number, seconds, best))
    return race


def arch_race(study: optuna.Study, path: Path, metric: str) -> Path | None:
    """The best value each architecture has reached, against trial number and against time."""
    race = best_by_arch(study)
    if not race:
        return None
    fig, (by_trial, by_time) = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    try:
        last_number = max(steps[-1][0] for steps in race.values())
        last_seconds = max(steps[-1][1] for steps in race.values())
        for arch, steps in sorted(race.items()):
            steps = steps + [(last_number, last_seconds, steps[-1][2])]  # each best holds to the end
            numbers, seconds, best = zip(*steps)
            by_trial.step(numbers, best, where="post", marker="o", label=arch)
            by_time.step(seconds, best, where="post", marker="o", label=arch)
        by_trial.set(xlabel="trial number", ylabel=f"best {metric} so far", title="best value by architecture")
        by_time.set(xlabel="seconds since the study began", title="against time")
        by_trial.legend()
        by_trial.grid(alpha=0.3)
        by_time.grid(alpha=0.3)
        fig.savefig(path, dpi=DPI, bbox_inches="tight")
    finally:
        plt.close(fig)
    return path
