"""The runner stage: the study loop, one trial's life (``TrialRunner``), worker processes and how
workers on one or many machines share a study.

Example::

    from tuner.runner import run_study
    best = run_study(compose(["+experiment=digits_cnn", "search.n_trials=2"]))
"""

from __future__ import annotations

from tuner.runner.loop import run_study

__all__ = ["run_study"]
