"""What a search needs, and nothing more: the typed sections the wiring (``tuner.app``) hands the runner.

A ``Plan`` crosses into worker processes as it is (plain dataclasses pickle).

Example::

    plan = app.plan(cfg, overrides=["+experiment=digits_cnn"])
    plan.study.name, plan.search.n_trials  # "digits_cnn", 20
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from tuner.config import (
    DataConfig,
    DeviceConfig,
    SearchConfig,
    TrackingConfig,
    objectives,
)
from tuner.study import StudyRef


@dataclass(frozen=True)
class Plan:
    """One search: the study, its budget and space (``search``), the task (``data``), where trials run
    (``device``), where they are tracked (``tracking``), and the plug points (``model``, ``sampler``,
    ``pruner``: config mappings with a ``_target_``)."""

    study: StudyRef
    search: SearchConfig
    data: DataConfig
    device: DeviceConfig
    tracking: TrackingConfig
    seed: int
    model: dict[str, Any]
    sampler: dict[str, Any]
    pruner: dict[str, Any]
    overrides: list[str] = field(default_factory=list)  # the command line's, kept in every trial's replay command
    config_yaml: str = ""  # the composed config, logged on the parent run
    backend: str = "tensorflow"  # Keras' backend (``backend``), set in every worker before Keras loads

    @property
    def goals(self) -> list[tuple[str, str]]:
        """(metric, direction) pairs; the first ranks the trials."""
        return objectives(self.search)

    @property
    def metric(self) -> str:
        return self.goals[0][0]

    def for_worker(self, spawn: int, timeout: float | None) -> Plan:
        """This plan in the ``spawn``-th worker process: its own sampler seed (workers must not draw the same
        "random" trials) and what is left of the timeout."""
        sampler = dict(self.sampler)
        if sampler.get("seed") is not None:
            sampler["seed"] = int(sampler["seed"]) + spawn
        return replace(self, sampler=sampler, search=replace(self.search, timeout=timeout))
