"""``bench/research/prune_replay.py``: pruners replayed on whole learning curves read back from a real journal study."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import optuna
import pytest

from bench.research.prune_replay import replay, whole_curves

ROOT = Path(__file__).resolve().parents[3]
# five ordinary curves, then a late winner that trails them all at its second epoch
ORDINARY = [[0.60, 0.75 + i / 100, 0.78, 0.80, 0.81, 0.82 + i / 100] for i in range(5)]
LATE_WINNER = [0.50, 0.60, 0.80, 0.86, 0.89, 0.90]


def write_study(folder: Path, curves: list[list[float]], pruned_after: dict[int, int] | None = None) -> None:
    """A tuner-like study in ``folder/study.journal``: per epoch a report, ``epochs_run`` and ``seconds``."""
    folder.mkdir(parents=True)
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(folder / "study.journal")))
    study = optuna.create_study(study_name="s", storage=storage, direction="maximize")
    for number, curve in enumerate(curves):
        trial = study.ask()
        ran = (pruned_after or {}).get(number, len(curve))
        for step, value in enumerate(curve[:ran]):
            trial.report(value, step)
        trial.set_user_attr("epochs_run", ran)
        trial.set_user_attr("seconds", 2.0 * ran)
        if ran < len(curve):
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        else:
            study.tell(trial, max(curve))


def test_only_whole_curves_come_back_in_trial_order(tmp_path) -> None:
    write_study(tmp_path / "run" / "exp", [*ORDINARY, LATE_WINNER], pruned_after={2: 3})
    (studies,) = whole_curves(str(tmp_path / "run"))
    assert [c.values for c in studies] == [ORDINARY[0], ORDINARY[1], ORDINARY[3], ORDINARY[4], LATE_WINNER]
    assert all(c.seconds_per_epoch == 2.0 for c in studies)


def test_the_median_rule_stops_a_late_winner_and_the_replay_says_what_it_cost(tmp_path) -> None:
    write_study(tmp_path / "run", [*ORDINARY, LATE_WINNER])
    (curves,) = whole_curves(str(tmp_path))
    kept = replay(curves, "none")
    assert (kept.stopped, kept.seconds, kept.best, kept.stopped_winner) == (0, kept.full_seconds, 0.90, False)
    early = replay(curves, "median")  # from its 2nd epoch, once 5 trials finished
    assert early.stopped == 1 and early.stopped_winner
    assert early.seconds == pytest.approx((5 * 6 + 2) * 2.0) and early.best == pytest.approx(0.86)
    late = replay(curves, "median:n_warmup_steps=4")  # from its 5th epoch: by then the winner leads
    assert late.stopped == 0 and late.best == 0.90


@pytest.mark.parametrize("extra, message", [
    ([], "no study with two or more whole curves"),
    (["--pruner", "nosuch"], "--pruner nosuch: In 'config': Could not find 'pruner/nosuch'"),
])
def test_bad_input_is_refused_with_what_to_give(tmp_path, extra, message) -> None:
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "research" / "prune_replay.py"), str(tmp_path), *extra],
                          capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 1 and message in done.stderr and "Traceback" not in done.stderr
