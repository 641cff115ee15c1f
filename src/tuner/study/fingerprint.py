"""What a study was trained on, key by key: its search space and metrics, its data (task, source, content,
subsample and split), the seed and the model builder. A study records these parts when it is created; a
resume, another worker or an export with any part changed is refused, naming each key with both values.

The parts are config keys (``data.source``, ``seed``, ...) plus what only the loaded data tells:
``data.input_shape``, ``data.sizes`` and ``data.digest`` (``tuner.data.digest``: the arrays' content, never
their paths, so another machine's copy of the same data agrees). A study made before the parts were
recorded holds only ``fingerprint(space, goals)``, a hash of its space and objectives; it takes on the parts
at its first resume when that hash still matches.

Example::

    mine = {**searched(space, goals), **trained_on(plan.data, plan.seed, plan.model, dataset)}
    settle(study, ref, mine, fingerprint(space, goals), created=False)  # a ConfigError naming what differs
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import re
import time
from typing import Any, Mapping, Sequence

import optuna

from tuner.config import DataConfig
from tuner.data import Dataset, digest
from tuner.errors import ConfigError
from tuner.study.records import FINGERPRINT, TRAINED_ON
from tuner.study.storage import StudyRef

log = logging.getLogger(__name__)
Goals = Sequence[tuple[str, str]]
Parts = dict[str, Any]
CREATOR_WAIT_S = 10.0  # how long a joiner waits for the creator of a brand-new study to record its parts


def fingerprint(space: Mapping[str, Any], goals: Goals) -> str:
    """A short hash of the parsed search space (its ``Param`` entries) and the objectives: all that studies made
    before the parts were recorded hold. Unchanged since the first studies, so old studies keep resuming."""
    blob = json.dumps({"space": _entries(space), "objectives": [list(g) for g in goals]}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def searched(space: Mapping[str, Any], goals: Goals) -> Parts:
    """The search's parts: a hash of the parsed space (``search.space``) and the metrics (``search.metric``)."""
    blob = json.dumps(_entries(space), sort_keys=True, default=str)
    return {"search.space": hashlib.sha256(blob.encode()).hexdigest()[:16], "search.metric": [m for m, _ in goals]}


def _entries(space: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Each entry as a dict, without its ``prior``: a prior says where the sampler looks first, not what a trial's
    value means (like the sampler itself), so changing one does not refuse a resume, and old studies keep their hash."""
    return [{k: v for k, v in dataclasses.asdict(p).items() if k != "prior"} for _, p in sorted(space.items())]


def trained_on(data: DataConfig, seed: int, model: Mapping[str, Any], dataset: Dataset | None = None) -> Parts:
    """The parts that decide what a trial's value means besides the space: the task and its source, the
    subsample and split settings, the seed, the model builder's config (``model.*`` but ``_partial_``), and, from
    the loaded ``dataset``, its input shape, split sizes and content digest. Left out: ``data.path`` and
    ``data.cache_dir`` (where a copy lies: the digest says whether it is the same data), ``data.sources`` (the
    digest covers what a source decodes), ``data.flip_keeps_label`` (a guard on ``search.space``, which is
    recorded), devices, budget, sampler and pruner (how trials are run or chosen, not what their values mean)."""
    parts: Parts = {"data.name": data.name, "data.source": data.source, "data.n_classes": data.n_classes,
                    "data.max_samples": data.max_samples, "data.val_fraction": float(data.val_fraction),
                    "data.test_fraction": float(data.test_fraction), "seed": int(seed)}
    parts.update({f"model.{k}": v for k, v in sorted(model.items()) if k != "_partial_"})
    if dataset is not None:
        parts["data.input_shape"] = list(dataset.input_shape)
        parts["data.sizes"] = {"train": len(dataset.y_train), "val": len(dataset.y_val), "test": len(dataset.x_test)}
        parts["data.digest"] = digest(dataset)
    return json.loads(json.dumps(parts, default=str))  # as the storage gives it back: lists, not tuples


def settle(study: optuna.Study, ref: StudyRef, mine: Mapping[str, Any], legacy: str, created: bool) -> None:
    """Record ``mine`` on a new study; on a stored one, refuse any part that differs (a ConfigError naming each
    key, its stored and its current value, and the fix), and record the parts it does not hold yet.

    ``legacy`` is ``fingerprint(space, goals)``: a study that holds only that hash takes on ``mine`` if it
    matches (a warning says so), and is refused as a different search space if it does not."""
    stored, old = study.user_attrs.get(TRAINED_ON), study.user_attrs.get(FINGERPRINT)
    if stored is None and old is None and not created:
        stored, old = _await_creator(study)
    if stored is None:
        if old is not None and old != legacy:
            raise ConfigError(
                f"study '{ref.name}' in {ref.where()} was run with a different search.space (fingerprint {old}, "
                f"now {legacy}); mixing them would compare unlike trials: restore the old space, or " + fresh(ref))
        if old is None:
            study.set_user_attr(FINGERPRINT, legacy)
        else:
            log.warning("study '%s' was made by an older tuner, which recorded only its search space: it now "
                        "records the data and settings of this run too (%s), and later runs with others are "
                        "refused. If its earlier trials ran on other data, start a fresh study with name=<new name>",
                        ref.name, shown(mine, ("data.source", "data.input_shape", "data.digest", "seed")))
        study.set_user_attr(TRAINED_ON, dict(mine))
        return
    refuse_changes(ref, stored, mine, "was run with a different",
                   "mixing them would compare unlike trials: set those back, or " + fresh(ref))
    missing = {k: v for k, v in mine.items() if k not in stored}
    if missing:
        log.info("study '%s' now also records %s", ref.name, shown(missing, tuple(missing)))
        study.set_user_attr(TRAINED_ON, {**stored, **missing})


def check_export(study: optuna.Study, ref: StudyRef, mine: Mapping[str, Any]) -> None:
    """Refuse to export a study trained on other data or settings than ``mine`` (``trained_on`` of the data the
    export would predict): a ConfigError naming each key that differs. A study that records no parts (made by
    an older tuner and not resumed since) cannot be checked: a log line says so."""
    stored = study.user_attrs.get(TRAINED_ON)
    if stored is None:
        log.info("study '%s' does not record the data it was trained on (an older tuner made it): exporting "
                 "without checking it", ref.name)
        return
    refuse_changes(ref, stored, mine, "was trained on a different",
                   "its models would predict other data than its trials were scored on: set those back to export "
                   "it, or run a fresh study on this data with name=<new name> and export that")


def refuse_changes(ref: StudyRef, stored: Mapping[str, Any], mine: Mapping[str, Any], what: str, why: str) -> None:
    """A ConfigError naming every key of ``mine`` whose stored value differs, with both values, then ``why``
    (the consequence and the fix); keys either side lacks are not compared."""
    changed = [f"{k} ({_value(stored[k])}, now {_value(v)})" for k, v in mine.items() if k in stored and stored[k] != v]
    if changed:
        raise ConfigError(f"study '{ref.name}' in {ref.where()} {what} {', '.join(changed)}; {why}")


def fresh(ref: StudyRef) -> str:
    """The two ways out of a refusal: a study of its own, or deleting this one."""
    return (f"start a fresh study with name=<new name>, or delete this one: `python -m tuner.studies delete "
            f"{ref.name}` (or remove {ref.where()})")


def shown(parts: Mapping[str, Any], keys: Sequence[str]) -> str:
    """``key=value`` for those of ``keys`` that ``parts`` holds, for a log line."""
    return ", ".join(f"{k}={_value(parts[k])}" for k in keys if k in parts)


def _value(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return text[:17] + '…"' if isinstance(value, str) and re.fullmatch("[0-9a-f]{64}", value) else text  # a digest


def _await_creator(study: optuna.Study) -> tuple[Any, Any]:
    """The parts of a study another worker has just created and not yet recorded its parts on."""
    end = time.monotonic() + CREATOR_WAIT_S
    while time.monotonic() < end:
        attrs = study.user_attrs
        if TRAINED_ON in attrs or FINGERPRINT in attrs:
            return attrs.get(TRAINED_ON), attrs.get(FINGERPRINT)
        time.sleep(0.2)
    return None, None
