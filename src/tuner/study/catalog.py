"""Every study tuner can find, and deleting one: what ``python -m tuner.studies`` shows and removes.

The studies live in the journals under ``experiments_dir`` (``<experiments_dir>/<name>/study.journal``),
and in ``search.storage`` when one is given.

Example::

    for info in find_studies("experiments", None):
        print(info.name, info.states, info.best, info.where)
    delete_study(StudyRef("digits_cnn"))  # a rerun with name=digits_cnn starts a fresh study
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import optuna

from tuner.errors import ConfigError
from tuner.study.ranking import best_completed, metric_names
from tuner.study.storage import JOURNAL, StudyRef, storage_for


@dataclass(frozen=True)
class StudyInfo:
    """One study: its trials by state (``{"COMPLETE": 3, "PRUNED": 1}``), its best value of the first
    objective ``metric`` and that trial's number (None before a trial completes), and where it lives
    (the journal file or the storage URL, its password masked)."""

    name: str
    where: str
    states: dict[str, int]
    metric: str
    best: float | None
    best_trial: int | None


def journal_refs(experiments_dir: str) -> list[StudyRef]:
    """One ``StudyRef`` per journal file ``<experiments_dir>/<name>/study.journal``, by name."""
    root = Path(experiments_dir)
    return [StudyRef(p.parent.name, experiments_dir) for p in sorted(root.glob(f"*/{JOURNAL}")) if p.is_file()]


def studies_in(ref: StudyRef) -> list[StudyInfo]:
    """Every study stored where ``ref`` points: its journal, or its ``storage`` URL (then ``ref.name`` is unused)."""
    storage = storage_for(ref)
    found = []
    for name in sorted(optuna.get_all_study_names(storage)):
        study = optuna.load_study(study_name=name, storage=storage)
        states = Counter(t.state.name for t in study.get_trials(deepcopy=False))
        best = best_completed(study)
        found.append(StudyInfo(name, ref.where(), dict(sorted(states.items())), metric_names(study)[0],
                               best[0].values[0] if best else None, best[0].number if best else None))
    return found


def find_studies(experiments_dir: str, storage: str | None) -> list[StudyInfo]:
    """Every study in the journals under ``experiments_dir``, then every study in ``storage`` if given."""
    refs = journal_refs(experiments_dir) + ([StudyRef("", experiments_dir, storage)] if storage else [])
    return [info for ref in refs for info in studies_in(ref)]


def has_study(ref: StudyRef) -> bool:
    """Whether the study ``ref`` names is where it says (its journal, or ``ref.storage``); creates nothing."""
    if ref.storage is None and not ref.journal.is_file():
        return False
    return ref.name in {info.name for info in studies_in(ref)}


def unknown_study(ref: StudyRef) -> ConfigError:
    """The error for a study that is not where ``ref`` says, listing the studies tuner finds."""
    known = find_studies(ref.experiments_dir, ref.storage)
    names = ", ".join(f"{i.name} ({i.where})" for i in known) or "none"
    return ConfigError(f"no study '{ref.name}' in {ref.where()}; the studies tuner finds are: {names}. "
                       "Give one of those names, with the experiments_dir= or search.storage= where it lives "
                       "(python -m tuner.studies list)")


def delete_study(ref: StudyRef) -> None:
    """Delete the Optuna study ``ref`` names from where it lives (its journal, or ``ref.storage``), so that
    ``name=<name>`` starts afresh. An unknown name is a ConfigError that lists the studies there are."""
    if not has_study(ref):
        raise unknown_study(ref)
    optuna.delete_study(study_name=ref.name, storage=storage_for(ref))
