"""The search space, declared in YAML under ``search.space``, parsed and checked.

Each entry is either a plain value that pins a hyperparameter or a spec::

    width: {type: int, low: 32, high: 512, log: true}
    dropout: {type: float, low: 0.0, high: 0.5, step: 0.1}
    optimizer: {type: categorical, choices: [adam, sgd]}
    filters: {type: int, low: 8, high: 64, when: {arch: cnn}}
    learning_rate: {type: float, low: 1.0e-4, high: 1.0e-2, log: true, prior: {value: 1.0e-3, confidence: medium}}

A ``prior`` (``tuner.search.prior``) says where good values are believed to lie; ``prior: null`` is none.

CNN-only hyperparameters carry an implicit ``when: {arch: cnn}``. Parsing needs
neither Optuna nor data, so a bad space fails before anything is loaded.

With a builder of the user's own (``model.builder``, ``user_builder=True``) the space may declare keys
tuner's builder does not know (``blocks: {type: int, low: 1, high: 4}``), checked by type and range only;
tuner's builder-specific keys are then optional (only the training's ``REQUIRED_TRAINING`` are needed) and
carry no implicit ``when``.

Example::

    space = parse_space({"width": {"type": "int", "low": 8, "high": 64}, "epochs": 2})
    first_values(space)  # {"width": 8, "epochs": 2, ...}: what a user's builder is probed with
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Mapping

from tuner.config import plain
from tuner.errors import ConfigError
from tuner.models.hyperparameters import HYPERPARAMETERS, Hyperparameter
from tuner.search.prior import Prior, parse_prior

REQUIRED = ("arch", "width", "depth", "dropout", "activation", "initializer",
            "optimizer", "learning_rate", "batch_size", "epochs")
REQUIRED_CNN = ("filters", "kernel_size", "pooling", "padding", "batch_norm")
REQUIRED_TRAINING = ("optimizer", "learning_rate", "batch_size", "epochs")  # what tuner's training reads
SPEC_TYPES = ("int", "float", "categorical")
SPEC_KEYS = {"type", "low", "high", "log", "step", "choices", "when", "prior"}


@dataclass(frozen=True)
class Param:
    """One entry of the space: a fixed value, or a distribution to sample."""

    name: str
    type: str  # "fixed" | "int" | "float" | "categorical"
    value: Any = None
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple[Any, ...] = ()
    when: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    prior: Prior | None = None  # None: flat (search.space.<name>.prior)

    def active(self, values: Mapping[str, Any]) -> bool:
        """Whether this entry exists, given the values chosen so far."""
        return all(values.get(key) in allowed for key, allowed in self.when.items())


def parse_space(raw: Mapping[str, Any], user_builder: bool = False) -> dict[str, Param]:
    """Parse and check ``search.space``; entries come back in sampling order (conditions first).

    ``user_builder``: the model is the user's own (``model.builder``), so unknown keys are the user's."""
    raw = plain(raw)
    if not isinstance(raw, dict):
        raise ConfigError("search.space must be a mapping of hyperparameter name to spec or value")
    params = [_parse_entry(name, spec, user_builder) for name, spec in raw.items()]
    if user_builder:
        _check_missing([n for n in REQUIRED_TRAINING if n not in {p.name for p in params}])
    else:
        _check_required(params)
    return _order(params)


def first_values(space: Mapping[str, Param]) -> dict[str, Any]:
    """The values a trial would have if it drew the first of everything: ``low`` of a range, the first choice
    (only the entries active with those values)."""
    values: dict[str, Any] = {}
    for name, p in space.items():
        if p.active(values):
            values[name] = p.value if p.type == "fixed" else p.choices[0] if p.type == "categorical" else p.low
    return values


def check_flip(space: Mapping[str, Param], task: str, flip_keeps_label: bool) -> None:
    """Refuse a space that may flip images on a task whose labels a mirror image changes."""
    p = space.get("augment_flip")
    if flip_keeps_label or p is None or not (p.value is True or True in p.choices):
        return
    raise ConfigError(
        f"search.space.augment_flip may be true, but a mirrored image changes its label on task {task} "
        f"(data.flip_keeps_label=false); set search.space.augment_flip=false or leave it out"
    )



def _parse_entry(name: str, spec: Any, user_builder: bool = False) -> Param:
    key = f"search.space.{name}"
    hp = HYPERPARAMETERS.get(name)
    if hp is None and not user_builder:
        raise ConfigError(f"unknown hyperparameter '{name}' at {key}; choose among: {', '.join(HYPERPARAMETERS)} "
                          "(a key of your own needs a builder of your own: model.builder=<module>.<function>)")
    if hp is None:
        hp = _users(key, spec)
    implicit = {"arch": ("cnn",)} if hp.cnn_only and not user_builder else {}
    if not isinstance(spec, dict):
        _check_value(key, hp, spec)
        return Param(name, "fixed", value=_cast(hp, spec), when=implicit)
    unknown = set(spec) - SPEC_KEYS
    if unknown:
        raise ConfigError(f"unknown field(s) {sorted(unknown)} at {key}; a spec takes: {', '.join(sorted(SPEC_KEYS))}")
    when = {**implicit, **_parse_when(key, spec.get("when"), user_builder)}
    kind = spec.get("type")
    if kind is None and "prior" in spec and not {"low", "high", "choices"} & set(spec):
        raise ConfigError(f"{key}.prior: a pinned value carries no prior; give {key} a range or choices to search "
                          f"({{type: ..., low: ..., high: ..., prior: ...}}), or drop the prior: '~{key}.prior'")
    if kind not in SPEC_TYPES:
        raise ConfigError(f"unknown type '{kind}' at {key}.type; choose one of: {', '.join(SPEC_TYPES)}")
    if kind == "categorical":
        param = _parse_categorical(key, name, hp, spec, when)
    else:
        param = _parse_range(key, name, hp, spec, kind, when)
    if spec.get("prior") is None:
        return param
    return replace(param, prior=parse_prior(name, spec["prior"], param))


def _parse_categorical(key: str, name: str, hp: Hyperparameter, spec: dict, when: dict) -> Param:
    mixed = {"low", "high", "log", "step"} & set(spec)
    if mixed:
        raise ConfigError(
            f"{key} is categorical but also has {sorted(mixed)}. If you changed its type on the command line, "
            f"replace the whole spec: '~{key}' '+{key}={{type: categorical, choices: [...]}}'"
        )
    choices = spec.get("choices")
    if not isinstance(choices, list) or not choices:
        raise ConfigError(f"{key}.choices must be a non-empty list")
    for choice in choices:
        _check_value(key, hp, choice)
    return Param(name, "categorical", choices=tuple(_cast(hp, c) for c in choices), when=when)


def _parse_range(key: str, name: str, hp: Hyperparameter, spec: dict, kind: str, when: dict) -> Param:
    if "choices" in spec:
        raise ConfigError(
            f"{key} is of type {kind} but also has choices. If you changed its type on the command line, "
            f"replace the whole spec: '~{key}' '+{key}={{type: {kind}, low: ..., high: ...}}'"
        )
    if hp.kind is str or hp.kind is bool:
        raise ConfigError(f"{key} takes one of {list(hp.choices)}: use {{type: categorical, choices: [...]}}")
    if hp.kind is int and kind == "float":
        raise ConfigError(f"{key} is a whole number: use type: int")
    low, high, log, step = spec.get("low"), spec.get("high"), bool(spec.get("log", False)), spec.get("step")
    for bound, value in (("low", low), ("high", high)):
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
            raise ConfigError(f"{key}.{bound} must be a number, got {value!r}")
        _check_value(f"{key}.{bound}", hp, value)
    if low > high:
        raise ConfigError(f"{key}: low={low} is greater than high={high}; swap them")
    if log and low <= 0:
        raise ConfigError(f"{key}: log scale needs low > 0, got low={low}")
    if step is not None and (log or step <= 0):
        raise ConfigError(f"{key}.step={step}: a step must be positive and cannot be combined with log: true")
    if kind == "int":
        low, high = int(low), int(high)
        step = int(step) if step is not None else None
    return Param(name, kind, low=low, high=high, log=log, step=step, when=when)


def _users(key: str, spec: Any) -> Hyperparameter:
    """What a key of the user's own builder takes: an int or float range as its spec's type says, any choices,
    any pinned scalar (``object``: not checked further)."""
    if isinstance(spec, dict):
        return {"int": Hyperparameter(int), "float": Hyperparameter(float)}.get(spec.get("type"),
                                                                                 Hyperparameter(object))
    if isinstance(spec, (bool, int, float, str)):
        return Hyperparameter(object)
    raise ConfigError(f"{key}={spec!r}: pin a number, a string or true/false, or give a spec, e.g. "
                      "{type: int, low: 1, high: 4}")


def _cast(hp: Hyperparameter, value: Any) -> Any:
    return value if hp.kind is object else hp.kind(value)


def _parse_when(key: str, raw: Any, user_builder: bool = False) -> dict[str, tuple[Any, ...]]:
    if raw is None:
        return {}
    if not isinstance(raw, dict) or not raw:
        raise ConfigError(f"{key}.when must map a hyperparameter to a value or list, e.g. {{arch: cnn}}")
    parsed = {}
    for other, allowed in raw.items():
        if other not in HYPERPARAMETERS and not user_builder:
            raise ConfigError(f"{key}.when names unknown hyperparameter '{other}'")
        parsed[other] = tuple(allowed) if isinstance(allowed, list) else (allowed,)
    return parsed


def _check_value(key: str, hp: Hyperparameter, value: Any) -> None:
    if hp.kind is object:  # a pinned value or a choice of the user's own builder: theirs to check
        return
    if hp.choices:
        if value not in hp.choices or type(value) is not type(hp.choices[0]):
            allowed = ", ".join(str(c) for c in hp.choices)
            raise ConfigError(f"unknown value {value!r} at {key}; choose one of: {allowed}")
        return
    numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not numeric or (hp.kind is int and float(value) != int(value)):
        raise ConfigError(f"{key} must be {'a whole number' if hp.kind is int else 'a number'}, got {value!r}")
    if (hp.low is not None and value < hp.low) or (hp.high is not None and value > hp.high):
        raise ConfigError(f"{key}={value} is out of range [{hp.low}, {hp.high if hp.high is not None else 'inf'}]")


def _check_required(params: list[Param]) -> None:
    names = {p.name for p in params}
    missing = [n for n in REQUIRED if n not in names]
    arch = next(p for p in params if p.name == "arch") if "arch" in names else None
    may_be_cnn = arch is not None and (arch.value == "cnn" or "cnn" in arch.choices)
    if may_be_cnn:
        missing += [n for n in REQUIRED_CNN if n not in names]
    _check_missing(missing)


def _check_missing(missing: list[str]) -> None:
    if missing:
        raise ConfigError(
            f"search.space is missing {', '.join(missing)}: give each a spec or a value "
            f"(e.g. search.space.{missing[0]}=...), or start from a shipped space (search/space=mlp|cnn|mlp_vs_cnn)"
        )


def _order(params: list[Param]) -> dict[str, Param]:
    """Sort entries so that every entry comes after those its ``when`` depends on."""
    by_name = {p.name: p for p in params}
    ordered: dict[str, Param] = {}
    visiting: set[str] = set()

    def visit(p: Param) -> None:
        if p.name in ordered:
            return
        if p.name in visiting:
            raise ConfigError(f"search.space.{p.name}.when forms a cycle")
        visiting.add(p.name)
        for dep in p.when:
            if dep not in by_name:
                raise ConfigError(f"search.space.{p.name}.when depends on '{dep}', which is not in search.space")
            visit(by_name[dep])
        ordered[p.name] = p

    for p in params:
        visit(p)
    return ordered


def misfit_of(hp: Mapping[str, Any], space: Mapping[str, Param]) -> str:
    """Why ``hp`` does not fit ``space`` (naming the parameter), or '' when it does."""
    for name, value in hp.items():
        p = space.get(name)
        if p is None:
            return f"its parameter {name}={value!r} is not in this search space"
        if p.type == "fixed" or not p.active(hp):
            continue
        if p.type == "categorical":
            if value not in p.choices:
                return f"its parameter {name}={value!r} is not among search.space.{name}.choices {list(p.choices)}"
        elif not _in_range(p, value):
            return f"its parameter {name}={value!r} is outside search.space.{name} [{p.low}, {p.high}]"
    return ""


def _in_range(p: Param, value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not p.low <= value <= p.high:
        return False
    if p.step is None:
        return p.type != "int" or float(value).is_integer()
    return math.isclose((value - p.low) / p.step, round((value - p.low) / p.step), abs_tol=1e-9)
