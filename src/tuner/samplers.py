"""Samplers that need more than their config: the parsed space, or an extra package.

``conf/sampler/grid.yaml`` points its ``_target_`` here with ``_partial_: true``:
``tuner.run.prepare`` finishes any partial sampler with ``space=<parsed space>``.
``conf/sampler/cmaes.yaml`` goes through ``cmaes`` so a missing package is named.

Example::

    from tuner.space import parse_space
    sampler = grid(parse_space({"width": {"type": "int", "low": 8, "high": 16, "step": 8}, ...}), seed=0)
"""

from __future__ import annotations

import importlib
import math
from typing import Any, Mapping

import optuna

from tuner.errors import ConfigError
from tuner.space import Param

MAX_GRID_POINTS = 1_000_000


def grid_values(p: Param) -> list[Any]:
    """Every value one entry of the space can take, for a grid; continuous ranges have none."""
    key = f"search.space.{p.name}"
    if p.type == "categorical":
        return list(p.choices)
    if p.type == "int":
        return list(range(int(p.low), int(p.high) + 1, int(p.step or 1)))
    if p.type == "float" and p.step is not None:
        count = math.floor((p.high - p.low) / p.step + 1e-9) + 1
        return [round(p.low + i * p.step, 12) for i in range(count)]
    step = "" if p.log else f"add a step (+{key}.step=<step>), "
    raise ConfigError(
        f"{key} is a continuous range [{p.low}, {p.high}]: sampler=grid needs a finite set of values; {step}"
        f"make it categorical ('~{key}' '+{key}={{type:categorical,choices:[...]}}') or pin it ({key}=<value>)"
    )


def grid_space(space: Mapping[str, Param]) -> dict[str, list[Any]]:
    """The search space as Optuna's ``GridSampler`` wants it: every sampled entry and its values."""
    values = {name: grid_values(p) for name, p in space.items() if p.type != "fixed"}
    if not values:
        raise ConfigError("sampler=grid: search.space pins every hyperparameter, so there is nothing to search")
    points = math.prod(len(v) for v in values.values())
    if points > MAX_GRID_POINTS:
        sizes = ", ".join(f"{k}: {len(v)}" for k, v in values.items())
        raise ConfigError(
            f"sampler=grid: the grid has {points:,} points ({sizes}), more than {MAX_GRID_POINTS:,}; "
            "pin some entries of search.space or give ranges a coarser step"
        )
    return values


def grid(space: Mapping[str, Param], seed: int | None = None) -> optuna.samplers.GridSampler:
    """Optuna's ``GridSampler`` over the categorical and stepped entries of ``space`` (fixed ones are left out)."""
    return optuna.samplers.GridSampler(grid_space(space), seed=seed)


def require(module: str, what: str) -> None:
    """Raise a ConfigError naming the package to install when ``module`` cannot be imported."""
    try:
        importlib.import_module(module)
    except ImportError as err:
        raise ConfigError(f"{what} needs the Python package '{module}': pip install {module}") from err


def cmaes(**kwargs: Any) -> optuna.samplers.CmaEsSampler:
    """Optuna's ``CmaEsSampler``; categorical entries fall back to its independent (random) sampler."""
    require("cmaes", "sampler=cmaes")
    return optuna.samplers.CmaEsSampler(**kwargs)
