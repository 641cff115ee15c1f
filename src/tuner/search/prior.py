"""A search-space entry's prior: where a user (or tuner's own studies) expects the best value to lie.

MINIMAL LOCAL COPY of the shared contract of issue 23, written in branch ``band`` to develop
``sampler=priorband`` against; branch ``prior`` owns this module and its version replaces this one on merge.

Example::

    p = parse_space({"learning_rate": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True,
                                       "prior": {"value": 0.002, "confidence": "high"}}, ...})["learning_rate"]
    sample_prior(p, np.random.default_rng(0))  # near 0.002
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import truncnorm

from tuner.errors import ConfigError

Param = Any  # a tuner.search.space.Param (space.py imports this module: no import back)

CONFIDENCE_SD = {"high": 0.05, "medium": 0.15, "low": 0.35}  # sd as a fraction of the (log-)range


@dataclass(frozen=True)
class Prior:
    value: Any = None
    confidence: str = "medium"
    weights: tuple[tuple[Any, float], ...] = ()  # categorical: (choice, weight) for every choice


def parse_prior(param_name: str, raw: Any, p: Any) -> Prior:
    """Check ``raw`` (the ``prior:`` of ``search.space.<param_name>``) against the entry ``p`` (its type, range,
    choices); a ConfigError naming the key and the fix on any bad input."""
    key = f"search.space.{param_name}.prior"
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{key} must be a mapping: {{value: ..., confidence: low|medium|high}} for a range, "
                          "{weights: {choice: weight, ...}} for a categorical")
    if p.type == "categorical":
        weights = raw.get("weights")
        if set(raw) != {"weights"} or not isinstance(weights, Mapping) or not weights:
            raise ConfigError(f"{key} of a categorical takes only weights: {{weights: {{choice: weight, ...}}}}")
        unknown = [c for c in weights if c not in p.choices]
        if unknown:
            raise ConfigError(f"{key}.weights names {unknown}, not among the choices {list(p.choices)}")
        if any(not isinstance(w, (int, float)) or isinstance(w, bool) or w < 0 for w in weights.values()):
            raise ConfigError(f"{key}.weights must be numbers >= 0")
        if not any(weights.values()):
            raise ConfigError(f"{key}.weights are all 0: give at least one choice a positive weight")
        least = min(weights.values())
        return Prior(weights=tuple((c, float(weights.get(c, least))) for c in p.choices))
    unknown = set(raw) - {"value", "confidence"}
    if unknown or "value" not in raw:
        raise ConfigError(f"{key} of a range takes {{value: <number in [{p.low}, {p.high}]>, confidence: "
                          "low|medium|high}}")
    value, confidence = raw["value"], raw.get("confidence", "medium")
    if confidence not in CONFIDENCE_SD:
        raise ConfigError(f"unknown confidence {confidence!r} at {key}.confidence; choose one of: low, medium, high")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not p.low <= value <= p.high:
        raise ConfigError(f"{key}.value={value!r} must be a number in [{p.low}, {p.high}]")
    return Prior(value=value, confidence=confidence)


def _scaled(param: Param) -> tuple[float, float]:
    low, high = float(param.low), float(param.high)
    return (math.log(low), math.log(high)) if param.log else (low, high)


def _snap(param: Param, x: float) -> Any:
    x = min(max(x, float(param.low)), float(param.high))
    if param.step is not None:
        n = round((x - param.low) / param.step)
        x = min(param.low + n * param.step, param.high)
    return round(x) if param.type == "int" else float(x)


def sample_prior(param: Param, rng: np.random.Generator) -> Any:
    """One value of ``param`` drawn from its prior (uniform over its range or choices when it has none)."""
    prior = param.prior
    if param.type == "fixed":
        return param.value
    if param.type == "categorical":
        weights = np.array([w for _, w in prior.weights]) if prior is not None else np.ones(len(param.choices))
        return param.choices[int(rng.choice(len(param.choices), p=weights / weights.sum()))]
    low, high = _scaled(param)
    if prior is None or high == low:
        x = rng.uniform(low, high)
    else:
        centre = math.log(prior.value) if param.log else float(prior.value)
        sd = (high - low) * CONFIDENCE_SD[prior.confidence]
        x = float(truncnorm.rvs((low - centre) / sd, (high - centre) / sd, loc=centre, scale=sd, random_state=rng))
    return _snap(param, math.exp(x) if param.log else x)


def prior_density(param: Param, value: Any) -> float:
    """The prior's relative density at ``value`` (1 for an entry without a prior)."""
    prior = param.prior
    if prior is None or param.type == "fixed":
        return 1.0
    if param.type == "categorical":
        weights = dict(prior.weights)
        return weights.get(value, 0.0) / sum(weights.values()) * len(weights)
    low, high = _scaled(param)
    if high == low:
        return 1.0
    centre = math.log(prior.value) if param.log else float(prior.value)
    x = math.log(value) if param.log else float(value)
    sd = (high - low) * CONFIDENCE_SD[prior.confidence]
    return float(truncnorm.pdf(x, (low - centre) / sd, (high - centre) / sd, loc=centre, scale=sd) * (high - low))
