"""One trial's life as steps (KerasTuner's ``on_trial_begin`` -> ``run_trial`` -> ``on_epoch_end`` ->
``on_trial_end``): ``TrialRunner.begin`` draws the hyperparameters and opens the trial's MLflow run,
``fit`` builds and trains the model, ``on_epoch`` reports and prunes, ``end`` records the outcome.

What a failure inside a trial means (``tuner.errors``):

- ``optuna.TrialPruned``: PRUNED, the search goes on;
- ``TrialFailed``, or an error raised inside Keras/TensorFlow (or a user's builder) while building,
  fitting or measuring the model (an impossible layer combination, NaN loss, out of memory): FAIL,
  the search goes on;
- a full disk while the trial writes (its model, its MLflow run): FAIL with reason ``disk full: <path>``, the
  search goes on; but a study journal that cannot be appended (``DiskFull``) stops the run;
- a ``TunerError`` (a bad config or data), or any other exception raised by tuner's own code (a bug):
  FAIL, and the run stops at once, the traceback in the log.

Example::

    objective = make_objective(Context(plan, space, data, tracker, parent_id))
    objective(optuna.trial.FixedTrial({"width": 64, ...}))  # the trial's val_accuracy
"""

from __future__ import annotations

import functools
import logging
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable
from urllib.parse import urlsplit

import optuna

from tuner.data import Dataset, digest, train_share
from tuner.errors import DiskFull, TrialFailed, TunerError, disk_full
from tuner.models.custom import model_builder, shipped
from tuner.models.hyperparameters import value
from tuner.runner import budget
from tuner.runner.disk import SQLITE_FULL, full_folder, own_temp_folder, sqlite_file
from tuner.runner.plan import Plan
from tuner.search import Param, sample, trial_seed
from tuner.search.priorband import RUNG_VALUE, Rung, rung_of
from tuner.study import records
from tuner.tracking import Tracker
from tuner.tracking.logged_model import card_for
from tuner.tracking.report import log_trial
from tuner.tracking.tracker import PARAM_MAX

if TYPE_CHECKING:
    from mlflow.entities import DatasetInput

log = logging.getLogger(__name__)
INFERENCE_IMAGES = 256  # validation images timed as one batch for the inference_ms objective
TUNER_ROOT = Path(__file__).resolve().parents[1]  # src/tuner


@dataclass
class Context:
    """What every trial of one invocation shares."""

    plan: Plan
    space: dict[str, Param]
    data: Dataset
    tracker: Tracker
    parent_id: str
    deadline: float | None = None  # time.monotonic() when search.timeout runs out: a running trial stops there
    builder: Callable[..., Any] | None = field(default=None, repr=False)  # None: built from plan.model
    out_of_time: bool = False  # the budget plan found no trial fits the time left: the search ends

    @functools.cached_property
    def dataset(self) -> DatasetInput:
        """The data as the MLflow dataset input every trial's run records (its digest hashed once)."""
        return dataset_of(self.plan, self.data)


def dataset_of(plan: Plan, data: Dataset) -> DatasetInput:
    """``data`` as an MLflow dataset input: named ``<task>/<source>``, from ``data.path`` (or tuner's own source)."""
    from tuner.tracking.datasets import dataset_input

    task = plan.data
    where = str(Path(task.path).resolve()) if task.path else f"tuner:{task.name}/{task.source}"
    return dataset_input(data, f"{task.name}/{task.source}", where, digest(data))


def raised_by_tuner(err: BaseException) -> bool:
    """Whether ``err`` was raised by tuner's own code (the innermost frame of its traceback lies in the package)."""
    tb = err.__traceback__
    if tb is None:
        return True
    while tb.tb_next is not None:
        tb = tb.tb_next
    return Path(tb.tb_frame.f_code.co_filename).resolve().is_relative_to(TUNER_ROOT)


def is_trial_failure(err: BaseException) -> bool:
    """True for an error of this trial's model (FAIL it, go on); False for one that must stop the run."""
    if isinstance(err, TrialFailed):
        return True
    if isinstance(err, TunerError):
        return False
    if isinstance(err, MemoryError):
        return True
    return not raised_by_tuner(err)


class TrialRunner(budget.BudgetedTrial):
    """Runs one trial: ``run()`` calls ``begin``, ``fit`` (which calls ``on_epoch`` after every epoch) and
    always ``end``."""

    def __init__(self, ctx: Context, trial: optuna.trial.BaseTrial) -> None:
        self.ctx, self.trial = ctx, trial
        self.plan = ctx.plan
        self.goals = self.plan.goals
        self.metric = self.goals[0][0]
        self.prunable = len(self.goals) == 1  # Optuna cannot prune a multi-objective study
        self.hp: dict[str, Any] = {}
        self.seed = 0
        self.run_id = ""
        self.figures: dict[str, float] = {}
        self.epochs: list[dict[str, float]] = []
        self.layer_table: str | None = None
        self.model: Any = None  # the trained keras.Model, logged as an MLflow model by ``log_model`` (tracking.log_models)
        self.model_id: str | None = None
        self.model_error = ""  # why the model could not be logged (the trial stays COMPLETE)
        self.started = time.perf_counter()
        self.rung: Rung | None = None  # sampler=priorband: the rung this trial trains at
        self.full_epochs = 0
        super().__init__()

    def run(self) -> float | list[float]:
        """The whole trial; its value (or values, one per objective)."""
        state, reason, pruned = "FAIL", "", ""
        try:
            self.begin()
            values = self.fit()
            self.log_model()
            state = "COMPLETE"
            return values[0] if len(values) == 1 else values
        except optuna.TrialPruned as err:
            state, pruned = "PRUNED", str(err)
            raise
        except TrialFailed as err:
            reason = str(err)
            raise
        except Exception as err:  # noqa: BLE001 - sorted into "fail this trial" and "stop the run"
            from tuner.training.device import failure_reason

            reason = failure_reason(err)  # "oom: ..." for an out-of-memory error
            full = None if isinstance(err, DiskFull) else disk_full(err)
            if full is not None:
                reason = f"disk full: {full or self.full_path(err)}"
            if full is not None or is_trial_failure(err):
                log.warning("trial %d failed: %s", self.trial.number, reason)
                raise TrialFailed(reason) from err
            if not isinstance(err, TunerError):
                reason = f"tuner error: {reason}"
                log.error("trial %d: an error in tuner's own code stops the run (please report it):\n%s",
                          self.trial.number, "".join(traceback.format_exception(err)))
            raise
        except BaseException:
            state, reason = "INTERRUPTED", "interrupted"
            raise
        finally:
            self.end(state, reason, pruned)

    def begin(self) -> None:
        """Draw the hyperparameters and the seed, size the epochs to the time left, open the trial's MLflow run
        (after the first epochs instead, when the budget plan must measure this machine on them first)."""
        self.hp = sample(self.trial, self.ctx.space)
        self.rung = rung_of(self.trial)
        if self.rung is not None:  # sampler=priorband: train the rung's share of the full trial
            self.full_epochs = int(self.hp["epochs"])
        self.plan_budget()
        if self.rung is not None:
            self.hp["epochs"] = self.rung.epochs(self.full_epochs)
        fixed_seed = self.plan.search.trial_seed
        self.seed = int(fixed_seed) if fixed_seed is not None else trial_seed(self.plan.seed, self.trial.number)
        if self.probe is None:
            self.open_run()

    def open_run(self) -> None:
        """Record the hyperparameters, seed and replay command, and open the trial's MLflow run."""
        plan, trial = self.plan, self.trial
        replay = records.replay_command(plan.study.name, trial.number, self.hp, self.seed, plan.overrides,
                                        plan.backend)
        trial.set_user_attr(records.HPARAMS, self.hp)
        trial.set_user_attr(records.SEED, self.seed)
        trial.set_user_attr(records.REPLAY, replay)
        self.run_id = self.ctx.tracker.start_trial(
            self.ctx.parent_id, trial.number, {**self.hp, "seed": self.seed},
            {records.TAG_SEED: str(self.seed), records.TAG_REPLAY: replay, records.TAG_NOTE: f"Replay: `{replay}`",
             records.TAG_BACKEND: plan.backend},
        )
        trial.set_user_attr(records.MLFLOW_RUN_ID, self.run_id)
        self.ctx.tracker.log_dataset(self.run_id, self.ctx.dataset)
        if self.no_time:
            self.ctx.out_of_time = True
            raise optuna.TrialPruned(f"budget plan: {self.no_time}: the search ends here")

    def builder(self) -> Callable[..., Any]:
        if self.ctx.builder is None:
            self.ctx.builder = model_builder(self.plan.model)
        return self.ctx.builder

    def fit(self) -> list[float]:
        """Build and train the model; its values for the objectives."""
        from tuner.models import describe, new_session
        from tuner.training import inference_ms, train

        data = self.ctx.data
        new_session(self.seed)
        model = self.builder()(self.hp, data.input_shape, data.n_classes, data.pixel_mean)
        self.figures[records.N_PARAMS] = model.count_params()
        self.layer_table = describe(model)
        self.trial.set_user_attr(records.N_PARAMS, self.figures[records.N_PARAMS])
        if self.rung is not None:
            data = train_share(data, self.rung.data_fraction(self.full_epochs), self.plan.seed)
        self.train_images, self.fit_start = len(data.x_train), time.perf_counter()
        try:
            result = train(model, self.hp, data, self.on_epoch, monitor=self.metric)
        except budget.Replan:  # the budget plan cut this trial's epochs after measuring its first: train it afresh
            new_session(self.seed)
            model = self.builder()(self.hp, data.input_shape, data.n_classes, data.pixel_mean)
            self.epoch_ends, self.fit_start = [], time.perf_counter()
            result = train(model, self.hp, data, self.on_epoch, monitor=self.metric)
        self.figures.update(epochs_run=result.epochs_run, train_seconds=result.seconds, **result.finals())
        if result.best_epoch is not None:  # early stopping restored this epoch's weights: its values count
            self.figures["best_epoch"] = result.best_epoch + 1
        if records.INFERENCE_MS in (m for m, _ in self.goals):
            self.figures[records.INFERENCE_MS] = inference_ms(model, data.x_val[:INFERENCE_IMAGES])
            self.trial.set_user_attr(records.INFERENCE_MS, self.figures[records.INFERENCE_MS])
        values = [self.figures[m] if m in self.figures else result.final(m) for m, _ in self.goals]
        if self.rung is not None and not self.rung.full:  # a lower rung counts as pruned, its value for the sampler
            self.trial.set_user_attr(RUNG_VALUE, values[0])
            raise optuna.TrialPruned(f"{self.rung.describe()}: {self.metric}={values[0]:.4f}")
        if self.plan.tracking.log_models:
            self.model = model
        return values

    def log_model(self) -> None:
        """Log the trained model (``tracking.log_models``) as an MLflow model of the trial's run, before the trial
        counts as COMPLETE: a full disk (the model's files, the temporary folder, the artifact copy) fails the
        trial as ``disk full: <path>``; any other error is a warning and the tag ``tuner.model_error``."""
        model, self.model = self.model, None
        if model is None or not self.run_id:
            return
        card = card_for(self.ctx.data, value(self.hp, "preprocess"), *shipped(self.ctx.builder))
        try:
            with own_temp_folder():
                self.model_id = self.ctx.tracker.log_trial_model(self.run_id, model, card)
        except Exception as err:  # noqa: BLE001 - the trial's result stands; export skips a trial without a model
            full = disk_full(err)
            if full is not None:
                raise TrialFailed(f"disk full: {full or self.full_path(err)}") from err
            log.warning("run %s: its model was not logged (%s: %s)", self.run_id, type(err).__name__, err)
            self.model_error = f"{type(err).__name__}: {err}"[:PARAM_MAX]

    def full_path(self, err: BaseException) -> str:
        """What a full disk that named no file kept this trial from writing: the SQLite store (its error says
        so), else the folder on the fullest disk of the temporary folder and the run's artifacts."""
        store = sqlite_file(self.ctx.tracker.uri)
        if store and SQLITE_FULL in str(err):
            return store
        return full_folder(self.artifact_folder())

    def artifact_folder(self) -> str | None:
        """The local folder of the trial run's artifacts; None for a remote artifact store."""
        try:
            uri = self.ctx.tracker.client.get_run(self.run_id).info.artifact_uri if self.run_id else ""
        except Exception:  # noqa: BLE001 - only for a message: the store itself may be what is full
            return None
        parts = urlsplit(uri)
        return parts.path if uri and parts.scheme in ("", "file") else None

    def on_epoch(self, epoch: int, logs: dict[str, float]) -> None:
        """Log the epoch, report it to the pruner, stop at the deadline or when pruned."""
        self.epoch_ends.append(time.perf_counter())
        if self.metric not in logs:
            raise TrialFailed(f"metric {self.metric!r} missing from Keras logs {sorted(logs)}")
        if self.probe is not None:  # the budget plan measures on these epochs before the run is opened
            self.probe.append((epoch, logs))
            if len(self.probe) < budget.PROBE_EPOCHS:
                return
            held, self.probe = self.probe, None
            self.end_probe()  # raises budget.Replan when the trial starts again with fewer epochs
            for number, values in held[:-1]:
                self.record_epoch(number, values)
        self.record_epoch(epoch, logs)
        # Neither the deadline nor a pruner stops a trial after its last epoch: that fit is paid for,
        # and finished, the trial counts (for the best and for the sampler).
        if epoch + 1 >= int(self.hp["epochs"]):
            return
        deadline = self.ctx.deadline
        if deadline is not None and time.monotonic() >= deadline:
            self.trial.set_user_attr(records.STOPPED_AT_DEADLINE, epoch + 1)
            raise optuna.TrialPruned(f"stopped at the search deadline (search.timeout={self.plan.search.timeout}"
                                     f" s) after epoch {epoch + 1} of {self.hp['epochs']}")
        if self.prunable and self.trial.should_prune():
            raise optuna.TrialPruned(f"pruned after epoch {epoch + 1}: {self.metric}={logs[self.metric]:.4f}")

    def record_epoch(self, epoch: int, logs: dict[str, float]) -> None:
        """Log the epoch to MLflow and report it to the pruner."""
        self.ctx.tracker.log_epoch(self.run_id, epoch, logs)
        self.epochs.append(logs)
        self.figures[records.EPOCHS_RUN] = epoch + 1
        if self.prunable:
            self.trial.report(logs[self.metric], epoch)  # step = epoch index, as Optuna's KerasPruningCallback

    def end(self, state: str, reason: str, pruned: str) -> None:
        """Record the trial's figures and outcome in Optuna and MLflow (linked to its logged model, if any).

        A study journal that cannot be appended (``DiskFull``) still closes the MLflow run, as FAIL, and then stops
        the run; a full disk that keeps MLflow from closing it is a warning (the next run's reap closes it)."""
        self.figures[records.SECONDS] = time.perf_counter() - self.started
        stop = None
        if not self.run_id and self.probe is not None and self.hp:  # it ended while measuring: its run still records it
            self.probe = None
            try:
                self.open_run()
            except optuna.TrialPruned:
                pass
        try:
            for key in (records.SECONDS, records.EPOCHS_RUN):
                if key in self.figures:
                    self.trial.set_user_attr(key, self.figures[key])
            self.record_speed(self.figures[records.SECONDS])
            if reason:
                self.trial.set_user_attr(records.FAIL_REASON, reason)
        except DiskFull as err:
            state, reason, stop = "FAIL", str(err).split(";")[0], err
        self.model = None
        if self.run_id:
            tags = ({records.TAG_FAIL_REASON: reason} if reason else
                    {records.TAG_PRUNE_REASON: pruned} if pruned else {})
            if self.model_error:
                tags[records.TAG_MODEL_ERROR] = self.model_error
            try:
                log_trial(self.ctx.tracker, self.run_id, self.trial.number, self.epochs, self.layer_table)
                self.ctx.tracker.end_trial(self.run_id, state, self.figures, tags, dataset=self.ctx.dataset,
                                           model_id=self.model_id if state == "COMPLETE" else None)
            except Exception as err:  # noqa: BLE001 - only a full disk: the trial's outcome stands in Optuna
                full = disk_full(err)
                if full is None:
                    raise
                log.warning("trial %d: its MLflow run %s could not be closed, the disk is full (%s)",
                            self.trial.number, self.run_id, full or err)
        summary = {k: round(v, 4) for k, v in self.figures.items() if k.startswith("final_val")}
        log.info("trial %d %s %s", self.trial.number, state, reason or pruned or summary)
        if stop is not None:
            raise stop


def make_objective(ctx: Context) -> Callable[[optuna.trial.BaseTrial], float | list[float]]:
    """The objective for ``study.optimize``; also callable with ``optuna.trial.FixedTrial``."""
    from tuner.training.device import activate

    activate(ctx.plan.device)

    def objective(trial: optuna.trial.BaseTrial) -> float | list[float]:
        return TrialRunner(ctx, trial).run()

    return objective
