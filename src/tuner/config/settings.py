"""The composed config turned into typed objects, once, after validation.

``to_settings(cfg)`` gives a ``TunerConfig`` whose sections are the schema's dataclasses
(``DataConfig``, ``SearchConfig``, ``TrackingConfig``, ``ExportConfig``, ``DeviceConfig``),
interpolations resolved. The wiring (``tuner.app``) hands each stage its own section.

Example::

    settings = to_settings(compose(["+experiment=digits_cnn"]))
    settings.search.n_trials, settings.data.source  # 20, "mnist5k"
"""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf, open_dict

from tuner.config.schema import TunerConfig


def to_settings(cfg: DictConfig) -> TunerConfig:
    """``cfg`` as a ``TunerConfig`` of typed sections (Hydra's own ``hydra`` node left out)."""
    plain = cfg.copy()
    with open_dict(plain):
        plain.pop("hydra", None)
    settings = OmegaConf.to_object(plain)
    assert isinstance(settings, TunerConfig), type(settings)
    return settings


def plain(node: Any) -> Any:
    """A config node as plain Python containers (interpolations resolved); anything else as it is."""
    if isinstance(node, (DictConfig, ListConfig)):
        return OmegaConf.to_container(node, resolve=True)
    return node
