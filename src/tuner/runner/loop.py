"""Wires the stages together: config -> space -> trial -> model -> train -> track.

``run_study(cfg)`` is what ``python -m tuner`` calls; tests call it directly.

Example::

    from tuner.config import compose
    best = run_study(compose(["+experiment=digits_cnn", "search.n_trials=2"]))
"""

from __future__ import annotations

import functools
import gc
import logging
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

import optuna
from hydra.utils import instantiate
from omegaconf import DictConfig
from tqdm import tqdm

from tuner.config import objectives, override_line, validate
from tuner.runner.coordinate import (SURPLUS_ATTR, agree_parent, close_parent, guard_slot, interrupts_once, reap,
                              stale_callback, sweep_runs, wait_for_slot)
from tuner.data import Dataset, check_source, load_dataset
from tuner.errors import ConfigError, TrialFailed, TunerError
from tuner.tracking.report import log_trial, summarize
from tuner.search.space import Param, check_flip, misfit_of, parse_space
from tuner.study import best_completed, finished_count, join_study
from tuner.tracking.tracker import Tracker
from tuner.search.sampling import sample, trial_seed

log = logging.getLogger(__name__)
ENQUEUED_ATTR = "enqueued"
DEADLINE_ATTR = "stopped_at_deadline"  # the epoch a trial had finished when search.timeout ran out
WARM_ATTR = "warm_start_trials"
INFERENCE_IMAGES = 256  # validation images timed as one batch for the inference_ms objective


@dataclass
class Context:
    """What every trial of one invocation shares."""

    cfg: DictConfig
    space: dict[str, Param]
    data: Dataset
    tracker: Tracker
    parent_id: str
    overrides: list[str] = field(default_factory=list)
    deadline: float | None = None  # time.monotonic() when search.timeout runs out: a running trial stops there


def prepare(cfg: DictConfig) -> tuple[dict[str, Param], Any, Any]:
    """Every check that needs no data: values, space, task, sampler and pruner."""
    validate(cfg)
    space = parse_space(cfg.search.space)
    check_source(cfg.data.name, cfg.data.source)
    check_flip(space, cfg.data.name, cfg.data.flip_keeps_label)
    pinned = {name: p.value for name, p in space.items() if p.type == "fixed"}  # e.g. arch, for CNN-only entries
    for i, params in enumerate(cfg.search.enqueue):
        misfit = misfit_of({**pinned, **params}, space)
        if misfit:
            raise ConfigError(f"search.enqueue[{i}]: {misfit}; change the value, or widen the space")
    if cfg.search.warm_start:
        from tuner.study.warmstart import open_source

        open_source(cfg)  # a missing source study stops the run here, before anything is opened or loaded
    try:
        sampler = instantiate(cfg.sampler)
        if isinstance(sampler, functools.partial):  # e.g. sampler=grid: it needs the parsed space
            sampler = sampler(space=space)
        pruner = instantiate(cfg.pruner)
    except TunerError:
        raise
    except Exception as err:  # noqa: BLE001 - Hydra wraps any constructor error
        if isinstance(err.__cause__, TunerError):  # our own factory's message says it best
            raise err.__cause__ from None
        raise ConfigError(f"cannot build sampler/pruner: {err}") from err
    return space, sampler, pruner


def run_study(cfg: DictConfig, overrides: list[str] | None = None) -> float | None:
    """Run (or resume) the experiment's study to its budget; returns the best value so far.

    With ``search.n_workers`` > 1 (or ``search.trials_per_worker`` set) the trials run in
    worker processes (``tuner.runner.workers``); this process opens the study and its parent run, then waits.
    """
    space, sampler, pruner = prepare(cfg)
    data = load_dataset(cfg.data, cfg.seed)  # a data error stops the run before anything is tracked
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study, created = join_study(cfg, sampler, pruner, on_stale=stale_callback(cfg.tracking.uri, cfg.name))
    tracker = Tracker(cfg.tracking.uri, cfg.name)
    reap(study, tracker)  # trials left RUNNING by a crashed run: FAIL, their runs KILLED
    parent_id = agree_parent(study, created, tracker, f"study-{cfg.name}",
                             tags={"tuner.study": cfg.name, "tuner.kind": "study"})
    sweep_runs(study, tracker, parent_id)
    _enqueue(study, cfg)
    status = "FAILED"
    try:
        with interrupts_once():
            if _budget_reached(study, cfg):
                pass
            elif cfg.search.n_workers > 1 or cfg.search.trials_per_worker:
                from tuner.runner.workers import run_workers

                run_workers(cfg, parent_id, list(overrides or []))
            else:
                ctx = Context(cfg, space, data, tracker, parent_id, list(overrides or []))
                gc.freeze()  # what is loaded now lives all run: keep it out of the per-trial collections
                _optimize(study, ctx)
        status = "FINISHED"
    except KeyboardInterrupt:
        status = "KILLED"
        raise
    finally:
        summarize(study, cfg, tracker, parent_id)
        close_parent(study, tracker, parent_id, status)
    best = best_completed(study)
    return best[0].values[0] if best else None


def _enqueue(study: optuna.Study, cfg: DictConfig) -> None:
    """Enqueue ``search.enqueue``, then the warm-start trials (``search.warm_start``), once per study (a rerun
    does not enqueue them again; the warm-start trials are picked once and kept on the study)."""
    items = list(cfg.search.enqueue)
    if cfg.search.warm_start and WARM_ATTR not in study.user_attrs:
        from tuner.study.warmstart import warm_trials

        study.set_user_attr(WARM_ATTR, warm_trials(cfg, parse_space(cfg.search.space)))
    items += study.user_attrs.get(WARM_ATTR, [])
    done = int(study.user_attrs.get(ENQUEUED_ATTR, 0))
    for params in items[done:]:
        study.enqueue_trial(dict(params), skip_if_exists=True)
    if len(items) > done:
        study.set_user_attr(ENQUEUED_ATTR, len(items))


def _optimize(study: optuna.Study, ctx: Context, progress: bool = True, max_trials: int | None = None) -> bool:
    """Run trials until ``search.n_trials`` are finished (by this and any other worker) or time is up.

    Returns True when it stopped because this process ran ``max_trials`` trials.
    """
    budget = ctx.cfg.search.n_trials
    timeout = ctx.cfg.search.timeout
    deadline = ctx.deadline = time.monotonic() + timeout if timeout else None
    if _budget_reached(study, ctx.cfg) or not wait_for_slot(study, budget, ctx.tracker, deadline=deadline):
        return False
    bar = tqdm(total=budget, initial=finished_count(study), desc=ctx.cfg.name, unit="trial",
               dynamic_ncols=True, disable=not progress)
    failures = _FailureGuard(ctx.cfg.search.max_failures)
    ran = 0

    def after_trial(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        nonlocal ran
        if trial.user_attrs.get(SURPLUS_ATTR):
            return
        ran += 1
        failures(study, trial)
        bar.update(max(0, finished_count(study) - bar.n))  # counts other workers' trials too
        best = best_completed(study)
        if best:
            bar.set_postfix({objectives(ctx.cfg)[0][0]: f"{best[0].values[0]:.4f}"})
        if failures.tripped or ran == max_trials or not wait_for_slot(study, budget, ctx.tracker, deadline=deadline):
            study.stop()

    try:
        study.optimize(guard_slot(make_objective(ctx), budget, ctx.tracker, deadline), n_trials=None,
                       timeout=timeout, catch=(TrialFailed,), callbacks=[after_trial], gc_after_trial=True)
    finally:
        bar.close()
    failures.raise_if_tripped()
    return ran == max_trials and finished_count(study) < budget


def _budget_reached(study: optuna.Study, cfg: DictConfig) -> bool:
    done = finished_count(study)
    if done >= cfg.search.n_trials:
        log.info("study %s has %d finished trials (search.n_trials=%d): nothing to run", cfg.name, done,
                 cfg.search.n_trials)
    return done >= cfg.search.n_trials


class _FailureGuard:
    """Stops the study after ``limit`` failed trials in a row: a broken setup should not spin forever.

    Counted over the study's trials in the order they ended, so workers and resumed runs count together.
    """

    def __init__(self, limit: int) -> None:
        self.limit, self.in_a_row, self.last_reason = limit, 0, ""

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        ended = [t for t in study.get_trials(deepcopy=False) if t.state.is_finished()
                 and not t.user_attrs.get(SURPLUS_ATTR)]
        ended.sort(key=lambda t: (t.datetime_complete or datetime.min, t.number))
        self.in_a_row = 0
        for t in reversed(ended):
            if t.state != optuna.trial.TrialState.FAIL:
                break
            self.in_a_row += 1
        if trial.state == optuna.trial.TrialState.FAIL:
            self.last_reason = str(trial.user_attrs.get("fail_reason", "unknown"))
        if self.tripped:
            study.stop()

    @property
    def tripped(self) -> bool:
        return self.in_a_row >= self.limit

    def raise_if_tripped(self) -> None:
        if self.tripped:
            raise TunerError(
                f"{self.in_a_row} trials failed in a row (search.max_failures={self.limit}); last reason: "
                f"{self.last_reason}. Fix the space or raise search.max_failures."
            )


def make_objective(ctx: Context) -> Callable[[optuna.trial.BaseTrial], float | list[float]]:
    """The objective for ``study.optimize``; also callable with ``optuna.trial.FixedTrial``."""
    from tuner.training.device import activate, failure_reason
    from tuner.models.builder import build_model, describe, new_session
    from tuner.training.fit import inference_ms, save, train

    goals = objectives(ctx.cfg)
    metric, prunable = goals[0][0], len(goals) == 1  # Optuna cannot prune a multi-objective study
    activate(ctx.cfg.device)

    def objective(trial: optuna.trial.BaseTrial) -> float | list[float]:
        hp = sample(trial, ctx.space)
        seed = ctx.cfg.search.trial_seed
        seed = int(seed) if seed is not None else trial_seed(ctx.cfg.seed, trial.number)
        trial.set_user_attr("hparams", hp)
        trial.set_user_attr("seed", seed)
        replay = replay_command(ctx, trial.number, hp, seed)
        trial.set_user_attr("replay", replay)
        run_id = ctx.tracker.start_trial(
            ctx.parent_id, trial.number, {**hp, "seed": seed},
            {"tuner.seed": str(seed), "tuner.replay": replay, "mlflow.note.content": f"Replay: `{replay}`"},
        )
        trial.set_user_attr("mlflow_run_id", run_id)
        state, reason, pruned, figures, model_path = "FAIL", "", "", {}, None
        epochs: list[dict[str, float]] = []
        layer_table: str | None = None
        start = time.perf_counter()
        tmp = tempfile.TemporaryDirectory(prefix="tuner-trial-")
        try:
            new_session(seed)
            model = build_model(hp, ctx.data.input_shape, ctx.data.n_classes, ctx.data.pixel_mean)
            figures["n_params"] = model.count_params()
            layer_table = describe(model)
            trial.set_user_attr("n_params", figures["n_params"])

            def on_epoch(epoch: int, logs: dict[str, float]) -> None:
                ctx.tracker.log_epoch(run_id, epoch, logs)
                epochs.append(logs)
                if metric not in logs:
                    raise TrialFailed(f"metric {metric!r} missing from Keras logs {sorted(logs)}")
                figures["epochs_run"] = epoch + 1
                if prunable:
                    trial.report(logs[metric], epoch)  # step = epoch index, as Optuna's KerasPruningCallback
                # Neither the deadline nor a pruner stops a trial after its last epoch: that fit is paid for,
                # and finished, the trial counts (for the best and for the sampler).
                if epoch + 1 >= int(hp["epochs"]):
                    return
                if ctx.deadline is not None and time.monotonic() >= ctx.deadline:
                    trial.set_user_attr(DEADLINE_ATTR, epoch + 1)
                    raise optuna.TrialPruned(f"stopped at the search deadline (search.timeout={ctx.cfg.search.timeout}"
                                             f" s) after epoch {epoch + 1} of {hp['epochs']}")
                if prunable and trial.should_prune():
                    raise optuna.TrialPruned(f"pruned after epoch {epoch + 1}: {metric}={logs[metric]:.4f}")

            result = train(model, hp, ctx.data, on_epoch, monitor=metric)
            figures.update(epochs_run=result.epochs_run, train_seconds=result.seconds, **result.finals())
            if result.best_epoch is not None:  # early stopping restored this epoch's weights: its values count
                figures["best_epoch"] = result.best_epoch + 1
            if "inference_ms" in (m for m, _ in goals):
                figures["inference_ms"] = inference_ms(model, ctx.data.x_val[:INFERENCE_IMAGES])
                trial.set_user_attr("inference_ms", figures["inference_ms"])
            values = [figures[m] if m in figures else result.final(m) for m, _ in goals]
            if ctx.cfg.tracking.log_models:
                model_path = save(model, Path(tmp.name))
            state = "COMPLETE"
            return values[0] if len(values) == 1 else values
        except optuna.TrialPruned as err:
            state, pruned = "PRUNED", str(err)
            raise
        except TrialFailed as err:
            reason = str(err)
            raise
        except Exception as err:  # noqa: BLE001 - any error inside one trial fails that trial only
            reason = failure_reason(err)  # "oom: ..." for TensorFlow's ResourceExhaustedError
            log.warning("trial %d failed: %s", trial.number, reason)
            raise TrialFailed(reason) from err
        except BaseException:
            state = "INTERRUPTED"
            reason = "interrupted"
            raise
        finally:
            figures["seconds"] = time.perf_counter() - start
            for key in ("seconds", "epochs_run"):
                if key in figures:
                    trial.set_user_attr(key, figures[key])
            tags = {"optuna.fail_reason": reason} if reason else {"optuna.prune_reason": pruned} if pruned else {}
            if reason:
                trial.set_user_attr("fail_reason", reason)
            log_trial(ctx.tracker, run_id, trial.number, epochs, layer_table)
            ctx.tracker.end_trial(run_id, state, figures, tags, model_path)
            tmp.cleanup()
            summary = {k: round(v, 4) for k, v in figures.items() if k.startswith("final_val")}
            log.info("trial %d %s %s", trial.number, state, reason or pruned or summary)

    return objective


def replay_command(ctx: Context, number: int, hp: dict[str, Any], seed: int) -> str:
    """A command line that retrains exactly this trial as a one-trial study of its own."""
    replaced = ("name=", "search.n_trials=", "search.trial_seed=", "pruner=", "search.enqueue=")
    kept = [o for o in ctx.overrides if not o.startswith(replaced) and not o.startswith("search.space.")]
    pinned = [f"search.space.{k}={_literal(v)}" for k, v in hp.items()]
    extra = [f"name={ctx.cfg.name}_replay_t{number}", "search.n_trials=1", f"search.trial_seed={seed}",
             "pruner=none", "search.enqueue=[]"]
    return "python -m tuner " + override_line(kept + extra + pinned)


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, float) else str(value)
