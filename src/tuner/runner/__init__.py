"""The runner stage: the study loop, one trial's life (``TrialRunner``), worker processes and how
workers on one or many machines share a study.

``run_study`` is imported on first use: importing a module of this package (``tuner.runner.replay``,
say) must not load Keras before the command has chosen its backend.

Example::

    from tuner.runner import run_study
    best = run_study(plan)
"""

from __future__ import annotations

from typing import Any

__all__ = ["run_study"]


def __getattr__(name: str) -> Any:
    if name == "run_study":
        from tuner.runner.loop import run_study

        return run_study
    raise AttributeError(f"module 'tuner.runner' has no attribute {name!r}")
