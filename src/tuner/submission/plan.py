"""What an export needs, and nothing more: the typed sections the wiring (``tuner.app``) hands it.

Example::

    plan = app.export_plan(compose(["+experiment=digits_cnn"]))
    plan.options.ensemble  # 1
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tuner.config import DataConfig, DeviceConfig, ExportConfig
from tuner.study import StudyRef


@dataclass(frozen=True)
class ExportPlan:
    """What an export needs: the study, the ``export`` options, the task (``data``, ``seed``), the tracking
    store, the device (for a refit) and the study's first metric (for its plots)."""

    study: StudyRef
    options: ExportConfig
    data: DataConfig
    seed: int
    tracking_uri: str
    device: DeviceConfig
    model: dict[str, Any]  # the builder plug point, for a refit
    metric: str
    flush_timeout: float = 60.0  # tracking.flush_timeout
