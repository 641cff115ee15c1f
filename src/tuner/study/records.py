"""What a trial and a study record carry, by name, in Optuna and in MLflow, and the replay command
that is built and parsed here only. Every module reads and writes these names through this one.

The names are public (users query them in MLflow and in Optuna's storage) and do not change.

Example::

    trial.set_user_attr(HPARAMS, {"width": 64})
    command = replay_command("digits_cnn", 3, {"width": 64}, seed=7, overrides=["+experiment=digits_cnn"])
    replay_overrides(command)  # ["+experiment=digits_cnn", "name=digits_cnn_replay_t3", ...]
"""

from __future__ import annotations

import shlex
from typing import Any, Mapping

import optuna

from tuner.config import drop_password

# A trial's user attributes in the Optuna storage.
HPARAMS = "hparams"                # every hyperparameter the model was built from, sampled and pinned
SEED = "seed"                      # the trial's seed
REPLAY = "replay"                  # the command line that retrains exactly this trial
MLFLOW_RUN_ID = "mlflow_run_id"    # the trial's MLflow child run
FAIL_REASON = "fail_reason"        # why a FAIL trial failed ("oom: ...", "interrupted", ...)
N_PARAMS = "n_params"
SECONDS = "seconds"                # the trial's wall-clock seconds, build to end
EPOCHS_RUN = "epochs_run"
INFERENCE_MS = "inference_ms"
STOPPED_AT_DEADLINE = "stopped_at_deadline"  # the epoch a trial had finished when search.timeout ran out
SURPLUS = "surplus"                # started when other workers had filled the budget: failed at once, not counted
WORKER_HOST, WORKER_PID, WORKER_STARTED, WORKER_RSS_MB = "worker_host", "worker_pid", "worker_started", "worker_rss_mb"

# A study's user attributes.
PARENT_RUN_ID = "mlflow_parent_run_id"  # the study's MLflow parent run
FINGERPRINT = "space_fingerprint"        # a hash of the space and objectives (all that older studies hold)
TRAINED_ON = "fingerprint"               # what a resumed study must share, key by key: space, data, seed, model
ENQUEUED = "enqueued"                    # how many of search.enqueue + warm-start trials were enqueued
WARM_START_TRIALS = "warm_start_trials"  # the warm-start trials, picked once

# MLflow tags.
TAG_PARENT = "mlflow.parentRunId"
TAG_NOTE = "mlflow.note.content"
TAG_TRIAL_NUMBER = "optuna.trial_number"
TAG_STATE = "optuna.state"
TAG_FAIL_REASON = "optuna.fail_reason"
TAG_PRUNE_REASON = "optuna.prune_reason"
TAG_MODEL_ERROR = "tuner.model_error"  # why a completed trial's model could not be logged
TAG_REPLAY = "tuner.replay"
TAG_SEED = "tuner.seed"
TAG_BACKEND = "tuner.backend"  # the Keras backend the run trained on (tensorflow, jax, torch)
TAG_STUDY = "tuner.study"
TAG_KIND = "tuner.kind"
# MLflow's own: the UI opens an experiment of this kind on its runs (model training), not on GenAI traces
TAG_EXPERIMENT_KIND, EXPERIMENT_KIND = "mlflow.experimentKind", "custom_model_development"
# the runs table's Source column (MlflowClient.create_run, unlike mlflow.start_run, sets neither)
SOURCE_TAGS = {"mlflow.source.type": "LOCAL", "mlflow.source.name": "tuner"}

REPLAY_PREFIX = ("python", "-m", "tuner")
# The overrides a replay sets itself; the study's own values of these are dropped.
# A study's worker count is dropped too: one trial runs in one process (more workers than trials is an error).
REPLAY_SETS = ("name=", "search.n_trials=", "search.trial_seed=", "pruner=", "search.enqueue=", "search.space.",
               "backend=", "search.n_workers=", "search.trials_per_worker=")


def hparams(trial: optuna.trial.FrozenTrial) -> dict[str, Any]:
    """The hyperparameters ``trial`` was built from (its sampled params for a trial recorded without them)."""
    return dict(trial.user_attrs.get(HPARAMS, trial.params))


def replay_command(name: str, number: int, hp: Mapping[str, Any], seed: int, overrides: list[str],
                   backend: str | None = None) -> str:
    """A command line that retrains trial ``number`` of study ``name`` as a one-trial study of its own
    (on ``backend``, when given, whatever ``KERAS_BACKEND`` says where it is replayed).

    The overrides are kept as typed (``search.storage=${oc.env:TUNER_STORAGE}`` stays so), except that a
    password in a URL is dropped (``postgresql://user@host/db``): the command is logged to MLflow, and whoever
    replays it gives the password where the driver looks for it (``PGPASSWORD``, ``~/.pgpass``).
    """
    kept = [drop_password(o) for o in overrides if not o.startswith(REPLAY_SETS)]
    pinned = [f"search.space.{k}={_literal(v)}" for k, v in hp.items()]
    extra = [f"name={name}_replay_t{number}", "search.n_trials=1", f"search.trial_seed={seed}", "pruner=none",
             "search.enqueue=[]", *([f"backend={backend}"] if backend else [])]
    return " ".join(REPLAY_PREFIX) + " " + " ".join(shlex.quote(o) for o in kept + extra + pinned)


def replay_overrides(command: str) -> list[str]:
    """The Hydra overrides of a command ``replay_command`` wrote."""
    words = shlex.split(command)
    if tuple(words[:len(REPLAY_PREFIX)]) != REPLAY_PREFIX:
        raise ValueError(f"not a tuner replay command: {command[:80]!r}")
    return words[len(REPLAY_PREFIX):]


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, float) else str(value)
