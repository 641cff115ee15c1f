"""A user's belief about where good values lie: the ``prior`` of a search-space entry, parsed, drawn from, weighed.

In the space YAML a range carries a most-likely value and how sure one is of it, a categorical a weight per
choice (a choice left out gets the smallest weight given)::

    learning_rate: {type: float, low: 1.0e-4, high: 1.0e-2, log: true, prior: {value: 1.0e-3, confidence: medium}}
    optimizer: {type: categorical, choices: [adam, nadam, rmsprop], prior: {weights: {adam: 2, nadam: 1}}}

A numeric prior is a normal distribution around ``value`` (around log(value) on a log range), truncated to the
range, whose standard deviation is a fraction of the (log-)range: ``CONFIDENCE_SD``. ``prior: null`` (or no
``prior``) is flat: uniform over the range or the choices. Samplers draw from it (``sample_prior``) or weigh
candidates by it (``prior_density``); the space's parsing (``tuner.search.space``) calls ``parse_prior``.

Example::

    p = parse_space(cfg.search.space)["learning_rate"]
    sample_prior(p, numpy.random.default_rng(0))  # e.g. 0.00117
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Protocol

import numpy as np
from scipy.stats import truncnorm

from tuner.errors import ConfigError

CONFIDENCE_SD = {"low": 0.35, "medium": 0.15, "high": 0.05}  # the prior's sd, as a fraction of the (log-)range
NUMERIC_KEYS = {"value", "confidence"}
CATEGORICAL_KEYS = {"weights"}


class Param(Protocol):
    """What this module reads of a search-space entry (``tuner.search.space.Param``, which imports this module)."""

    name: str
    type: str
    value: Any
    low: float | None
    high: float | None
    log: bool
    step: float | None
    choices: tuple[Any, ...]
    prior: Prior | None


@dataclass(frozen=True)
class Prior:
    """One entry's prior: ``value`` and ``confidence`` for a range, ``weights`` ((choice, weight) for every
    choice) for a categorical."""

    value: Any = None
    confidence: str = "medium"
    weights: tuple[tuple[Any, float], ...] = ()


def parse_prior(param_name: str, raw: Any, p: Param) -> Prior:
    """Check ``search.space.<param_name>.prior`` against its entry ``p`` (a ``Param`` without a prior) and parse it;
    a ConfigError names the key and the fix."""
    key = f"search.space.{param_name}.prior"
    drop = f"or drop the prior: '~{key}' (or {key}=null)"
    if p.type == "fixed":
        raise ConfigError(f"{key}: search.space.{param_name} is pinned to {p.value!r}, so it has nothing to weigh; "
                          f"give a range or choices to search, or drop the prior: '~{key}'")
    if not isinstance(raw, Mapping):
        example = "{weights: {<choice>: 2, ...}}" if p.type == "categorical" else "{value: <v>, confidence: medium}"
        raise ConfigError(f"{key} must be a mapping, got {raw!r}; e.g. {key}={example}")
    if p.type == "categorical":
        return _categorical(key, raw, p, drop)
    return _numeric(key, raw, p, drop)


def _numeric(key: str, raw: Mapping, p: Param, drop: str) -> Prior:
    unknown = set(raw) - NUMERIC_KEYS
    if unknown:
        hint = " (weights are for categorical entries)" if "weights" in unknown else ""
        raise ConfigError(f"unknown field(s) {sorted(unknown)} at {key}{hint}; a range's prior takes: value, "
                          f"confidence, e.g. {{value: {p.low}, confidence: medium}}")
    value, confidence = raw.get("value"), raw.get("confidence", "medium")
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        raise ConfigError(f"{key}.value must be a number inside [{p.low}, {p.high}], got {value!r}")
    if not p.low <= value <= p.high:
        raise ConfigError(f"{key}.value={value} is outside search.space.{p.name} [{p.low}, {p.high}] (was the range "
                          f"changed on the command line?); set {key}.value=<a value inside it>, {drop}")
    if confidence not in CONFIDENCE_SD:
        raise ConfigError(f"unknown confidence {confidence!r} at {key}.confidence; choose one of: "
                          f"{', '.join(CONFIDENCE_SD)}")
    return Prior(value=value, confidence=confidence)


def _categorical(key: str, raw: Mapping, p: Param, drop: str) -> Prior:
    unknown = set(raw) - CATEGORICAL_KEYS
    if unknown:
        raise ConfigError(f"unknown field(s) {sorted(unknown)} at {key}; a categorical's prior takes weights, "
                          f"e.g. {{weights: {{{p.choices[0]}: 2}}}}")
    weights = raw.get("weights")
    if not isinstance(weights, Mapping) or not weights:
        raise ConfigError(f"{key}.weights must map choices to weights, e.g. {{{p.choices[0]}: 2}}, got {weights!r}")
    given: dict[int, float] = {}
    for choice, weight in weights.items():
        index = next((i for i, c in enumerate(p.choices) if _same(c, choice)), None)
        if index is None:
            raise ConfigError(f"{key}.weights names {choice!r}, which is not among search.space.{p.name}.choices "
                              f"{list(p.choices)} (were the choices changed on the command line?); weigh only "
                              f"those choices, {drop}")
        if not isinstance(weight, (int, float)) or isinstance(weight, bool) or not math.isfinite(weight) or weight < 0:
            raise ConfigError(f"{key}.weights.{choice}={weight!r}: a weight must be a number >= 0")
        given[index] = float(weight)
    if not any(given.values()):
        raise ConfigError(f"{key}.weights are all 0: give at least one choice a positive weight, {drop}")
    rest = min(given.values())
    if len(given) < len(p.choices) and len(set(given.values())) == 1:
        raise ConfigError(f"{key}.weights gives every choice it names the weight {rest:g}, and a choice it leaves out "
                          f"gets the smallest weight given, so this prior is flat; weigh the others too, e.g. "
                          f"{key}.weights={{{', '.join(f'{c}: 1' for c in p.choices)}}} with a larger weight for "
                          f"the favourite, {drop}")
    return Prior(weights=tuple((c, given.get(i, rest)) for i, c in enumerate(p.choices)))


def _same(choice: Any, key: Any) -> bool:
    return choice == key and isinstance(choice, bool) == isinstance(key, bool)


def sample_prior(param: Param, rng: np.random.Generator) -> Any:
    """One value of ``param`` drawn from its prior (uniform where it has none), in the entry's own type and grid."""
    if param.type == "fixed":
        return param.value
    if param.type == "categorical":
        return param.choices[int(rng.choice(len(param.choices), p=_probabilities(param)))]
    low, high = _bounds(param)
    if param.prior is None:
        x = rng.uniform(low, high) if param.type == "float" or param.log else None
        if x is None:  # a linear int range: every grid point equally likely
            return int(param.low) + int(param.step or 1) * int(rng.integers(len(_grid(param))))
    else:
        a, b, loc, scale = _normal(param, low, high)
        x = loc if scale == 0 else float(truncnorm.rvs(a, b, loc=loc, scale=scale, random_state=rng))
    return _snap(param, math.exp(x) if param.log else x)


def prior_density(param: Param, value: Any) -> float:
    """The prior's density at ``value`` relative to the flat one (1 where ``param`` has no prior, above 1 where
    the prior favours ``value``, 0 outside the range or choices)."""
    if param.type == "fixed":
        return 1.0
    if param.type == "categorical":
        index = next((i for i, c in enumerate(param.choices) if _same(c, value)), None)
        return 0.0 if index is None else float(_probabilities(param)[index] * len(param.choices))
    if not param.low <= value <= param.high:
        return 0.0
    if param.prior is None:
        return 1.0
    low, high = _bounds(param)
    a, b, loc, scale = _normal(param, low, high)
    if scale == 0:
        return 1.0
    x = math.log(value) if param.log else float(value)
    return float(truncnorm.pdf(x, a, b, loc=loc, scale=scale) * (high - low))


def _probabilities(param: Param) -> np.ndarray:
    weights = np.array([w for _, w in param.prior.weights] if param.prior else [1.0] * len(param.choices))
    return weights / weights.sum()


def _bounds(param: Param) -> tuple[float, float]:
    low, high = float(param.low), float(param.high)
    return (math.log(low), math.log(high)) if param.log else (low, high)


def _normal(param: Param, low: float, high: float) -> tuple[float, float, float, float]:
    """scipy's truncnorm arguments (a, b, loc, scale) for ``param``'s prior on the (log-)range [low, high]."""
    loc = math.log(param.prior.value) if param.log else float(param.prior.value)
    scale = (high - low) * CONFIDENCE_SD[param.prior.confidence]
    if scale == 0:
        return 0.0, 0.0, loc, 0.0
    return (low - loc) / scale, (high - loc) / scale, loc, scale


def _grid(param: Param) -> range:
    return range(int(param.low), int(param.high) + 1, int(param.step or 1))


def _snap(param: Param, x: float) -> Any:
    """``x`` on ``param``'s grid: a whole number for an int, a multiple of ``step`` from ``low``, inside the range."""
    if param.step is not None:
        last = math.floor((param.high - param.low) / param.step + 1e-9)
        x = param.low + min(max(round((x - param.low) / param.step), 0), last) * param.step
    x = min(max(x, param.low), param.high)
    if param.type == "int":
        return round(x)
    return round(x, 12) if param.step is not None else float(x)
