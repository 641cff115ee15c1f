"""From an Optuna trial to a plain dict of hyperparameters and a seed.

This is the only stage that talks to ``optuna.trial``; everything after it
(model, train) takes the plain dict.

Example::

    import optuna
    from tuner.search.space import parse_space
    hp = sample(optuna.trial.FixedTrial({"width": 64}), parse_space(space_cfg))
"""

from __future__ import annotations

from typing import Any, Mapping

import optuna

from tuner.search.space import Param

SEED_MODULUS = 2**31 - 1


def sample(trial: optuna.trial.BaseTrial, space: Mapping[str, Param]) -> dict[str, Any]:
    """Draw every active entry of ``space`` (already in dependency order) from ``trial``."""
    values: dict[str, Any] = {}
    for name, p in space.items():
        if not p.active(values):
            continue
        values[name] = _suggest(trial, p)
    return values


def _suggest(trial: optuna.trial.BaseTrial, p: Param) -> Any:
    if p.type == "fixed":
        return p.value
    if p.type == "categorical":
        return trial.suggest_categorical(p.name, list(p.choices))
    if p.type == "int":
        return trial.suggest_int(p.name, int(p.low), int(p.high), step=int(p.step or 1), log=p.log)
    if p.type == "float":
        return trial.suggest_float(p.name, float(p.low), float(p.high), step=p.step, log=p.log)
    raise ValueError(f"search.space.{p.name}: unknown type {p.type!r}")


def trial_seed(seed: int, number: int) -> int:
    """The seed of trial ``number`` in a study seeded with ``seed``: distinct per trial, stable across runs."""
    return (seed * 1_000_003 + number * 7_919 + 17) % SEED_MODULUS
