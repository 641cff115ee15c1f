"""The study stage: where a study lives, opening and resuming it, ranking its trials, warm start.

Example::

    from tuner.study import StudyRef, best_completed, open_study
    best = best_completed(open_study(StudyRef("digits_cnn")))[0]
"""

from __future__ import annotations

from tuner.study.fingerprint import check_export, fingerprint, trained_on
from tuner.study.join import join_study, open_study
from tuner.study.ranking import (
                                 FINISHED,
                                 best_completed,
                                 finished_count,
                                 leaderboard,
                                 metric_names,
                                 pareto_numbers,
                                 ranked_trials,
)
from tuner.study.storage import (
                                 HEARTBEAT_GRACE_S,
                                 HEARTBEAT_S,
                                 StaleCallback,
                                 StudyRef,
                                 hide_password,
                                 repair_journal,
                                 storage_for,
)

__all__ = ["FINISHED", "HEARTBEAT_GRACE_S", "HEARTBEAT_S", "StaleCallback", "StudyRef", "best_completed",
           "check_export", "finished_count", "fingerprint", "hide_password", "join_study", "leaderboard",
           "metric_names", "open_study", "pareto_numbers", "ranked_trials", "repair_journal", "storage_for",
           "trained_on"]
