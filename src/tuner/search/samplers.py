"""Samplers that need more than their config: the parsed space, an extra package, or trial costs.

``conf/sampler/grid.yaml`` points its ``_target_`` at ``grid``, which takes the raw ``search.space``
(an interpolation in the config) and parses it.
``conf/sampler/cmaes.yaml`` goes through ``cmaes`` so a missing package is named.
``conf/sampler/tpe.yaml`` builds ``PriorTPESampler``: Optuna's TPE whose startup trials are drawn from the
space's priors (``tuner.search.prior``) instead of uniformly.
``conf/sampler/tpe_cost.yaml`` builds ``CostAwareTPESampler`` (experimental: the races found it picks no
better models than TPE): TPE weighing expected improvement against each candidate's predicted seconds.

Example::

    from tuner.search.space import parse_space
    sampler = grid({"width": {"type": "int", "low": 8, "high": 16, "step": 8}, ...}, seed=0)
"""

from __future__ import annotations

import importlib
import math
from typing import Any, Mapping

import numpy as np
import optuna
from optuna.trial import TrialState

from tuner._compat.optuna import HookedTPESampler
from tuner.errors import ConfigError
from tuner.search.prior import sample_prior
from tuner.search.space import Param, parse_space

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


def grid(space: Mapping[str, Any], seed: int | None = None) -> optuna.samplers.GridSampler:
    """Optuna's ``GridSampler`` over the categorical and stepped entries of ``space`` (the raw ``search.space``
    or an already parsed one; fixed entries are left out)."""
    return optuna.samplers.GridSampler(grid_space(parsed(space)), seed=seed)


def parsed(space: Mapping[str, Any]) -> dict[str, Param]:
    """``space`` parsed, unless it already is. A space of a user's builder (model.builder) may hold keys of its own:
    the run checked the space by its model's rules before it built the sampler, which needs only each entry."""
    if all(isinstance(p, Param) for p in space.values()):
        return dict(space)
    return parse_space(space, user_builder=True)


class PriorTPESampler(HookedTPESampler):
    """Optuna's TPE whose first ``n_startup_trials`` draw each entry of ``space`` from its prior
    (``tuner.search.prior.sample_prior``) instead of uniformly; entries without a prior, and every trial after
    the startup, are drawn as ``TPESampler`` draws them. ``space`` is the raw ``search.space`` or a parsed one.

    Optuna 5's TPE counts COMPLETE and PRUNED trials toward its startup and models both: pruned trials rank
    below complete ones by the step they reached, then by their value there (``_tpe.sampler._split_trials``).
    A prior draw that the trial's distribution does not hold (a user's builder suggesting another range) falls
    back to TPE's own.

    Example::

        sampler = PriorTPESampler(space=cfg.search.space, seed=0, n_startup_trials=3)
    """

    def __init__(self, *args: Any, space: Mapping[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._space = parsed(space) if space else {}
        self._prior_rng = np.random.default_rng(kwargs.get("seed"))

    def reseed_rng(self) -> None:
        super().reseed_rng()
        self._prior_rng = np.random.default_rng()

    def sample_independent(self, study: optuna.Study, trial: optuna.trial.FrozenTrial, param_name: str,
                           param_distribution: optuna.distributions.BaseDistribution) -> Any:
        p = self._space.get(param_name)
        if p is not None and p.prior is not None and self._starting(study):
            value = sample_prior(p, self._prior_rng)
            if _holds(param_distribution, value):
                return value
        return super().sample_independent(study, trial, param_name, param_distribution)

    def _starting(self, study: optuna.Study) -> bool:
        finished = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))
        return len(finished) < self._n_startup_trials


def _holds(dist: optuna.distributions.BaseDistribution, value: Any) -> bool:
    if isinstance(dist, optuna.distributions.CategoricalDistribution):
        return any(value == c and type(value) is type(c) for c in dist.choices)
    return dist.low <= value <= dist.high


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


class CostAwareTPESampler(HookedTPESampler):
    """TPE that weighs each candidate's expected improvement against its predicted cost.

    Plain TPE picks, among ``n_ei_candidates`` drawn from the good trials' density l(x), the one
    with the largest expected improvement, EI(x) ∝ 1 / (γ + (1 - γ) g(x) / l(x)) (Bergstra et al.
    2011, §4.1). This sampler picks the largest EI(x) / c(x) ** α instead: expected improvement
    per second (Snoek, Larochelle & Adams 2012, "Practical Bayesian Optimization of Machine
    Learning Algorithms", §3.2) when ``cost_exponent`` α is 1, plain TPE when it is 0.

    c(x) is predicted by a ridge regression of log seconds per reported step (epoch) on the
    finished trials' parameters (ranges scaled to [0, 1], log ranges in log; choices one-hot),
    times the candidate's ``steps_param`` (e.g. ``epochs``) when that is searched. A trial's
    seconds are its ``seconds`` user attribute (what tuner records) or else its start-to-complete
    time; its steps are its reported intermediate values (at least one).

    With ``budget`` (seconds, e.g. the search's timeout), α cools from ``cost_exponent`` to 0 as
    the finished trials' summed seconds approach the budget (Lee et al. 2020, "Cost-aware
    Bayesian Optimization", CArBO's cost cooling): cheap trials first, then pure EI.
    """

    def __init__(self, *args: Any, cost_exponent: float = 1.0, budget: float | None = None,
                 steps_param: str | None = "epochs", ridge: float = 1.0, **kwargs: Any) -> None:
        if cost_exponent < 0:
            raise ConfigError(f"sampler.cost_exponent={cost_exponent}: give 0 (plain TPE) or more (1: EI per second)")
        if budget is not None and budget <= 0:
            raise ConfigError(f"sampler.budget={budget}: give a positive number of seconds, or null for no cooling")
        super().__init__(*args, **kwargs)
        self._cost_exponent = float(cost_exponent)
        self._budget = None if budget is None else float(budget)
        self._steps_param = steps_param
        self._ridge = float(ridge)
        self._cost_model: tuple[dict[str, optuna.distributions.BaseDistribution], np.ndarray] | None = None
        self._alpha = 0.0
        self._n_finished = 0

    def before_sample(self, study: optuna.Study, trial: optuna.trial.FrozenTrial,
                      search_space: dict[str, optuna.distributions.BaseDistribution]) -> None:
        finished = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))
        costed = [(t, seconds) for t in finished if (seconds := trial_seconds(t)) is not None]
        spent = sum(seconds for _, seconds in costed)
        self._alpha = self._cost_exponent
        if self._budget is not None:
            self._alpha *= max(0.0, 1.0 - spent / self._budget)
        self._cost_model = None
        if self._alpha > 0:
            self._cost_model = fit_cost(costed, search_space, self._ridge)
        self._n_finished = len(finished)

    def acquisition(self, log_ratio: np.ndarray, samples: dict[str, np.ndarray]) -> np.ndarray:
        """log EI(x) - α log c(x), from TPE's log l(x) - log g(x)."""
        if self._cost_model is None:
            return log_ratio
        gamma = self.good_fraction(self._n_finished)
        log_ei = -np.logaddexp(math.log(gamma), math.log(1 - gamma) - log_ratio)
        space, weights = self._cost_model
        log_cost = encode(samples, space) @ weights
        if self._steps_param in samples and self._steps_param in space:
            log_cost = log_cost + np.log(np.maximum(external(samples, space, self._steps_param), 1.0))
        return log_ei - self._alpha * log_cost


def trial_seconds(t: optuna.trial.FrozenTrial) -> float | None:
    """A finished trial's seconds: its ``seconds`` user attribute, or else its start-to-complete time."""
    seconds = t.user_attrs.get("seconds")
    if seconds is None and t.datetime_start is not None and t.datetime_complete is not None:
        seconds = (t.datetime_complete - t.datetime_start).total_seconds()
    return None if seconds is None or seconds <= 0 else float(seconds)


def encode(internal: Mapping[str, np.ndarray], space: Mapping[str, optuna.distributions.BaseDistribution]) -> np.ndarray:
    """Rows of features from parameters in Optuna's internal form: ranges in [0, 1], choices one-hot, then 1."""
    columns: list[np.ndarray] = []
    for name, dist in space.items():
        x = np.asarray(internal[name], dtype=float)
        if isinstance(dist, optuna.distributions.CategoricalDistribution):
            columns.extend((x == i).astype(float) for i in range(len(dist.choices)))
            continue
        low, high = float(dist.low), float(dist.high)
        if dist.log:
            x, low, high = np.log(x), math.log(low), math.log(high)
        columns.append((x - low) / (high - low) if high > low else np.zeros_like(x))
    columns.append(np.ones(len(next(iter(internal.values()))) if internal else 1))
    return np.stack(columns, axis=1)


def external(internal: Mapping[str, np.ndarray], space: Mapping[str, optuna.distributions.BaseDistribution],
             name: str) -> np.ndarray:
    """One parameter's values in their external form, as floats (e.g. a searched ``epochs``)."""
    dist = space[name]
    return np.array([float(dist.to_external_repr(v)) for v in np.asarray(internal[name])])


def fit_cost(costed: list[tuple[optuna.trial.FrozenTrial, float]],
             space: Mapping[str, optuna.distributions.BaseDistribution], ridge: float
             ) -> tuple[dict[str, optuna.distributions.BaseDistribution], np.ndarray] | None:
    """Ridge weights of log seconds per step on the parameters of ``space``; None with under two costed trials."""
    space = {n: d for n, d in space.items() if not d.single()}
    rows = [(t, s) for t, s in costed if space.keys() <= t.params.keys()]
    if len(rows) < 2 or not space:
        return None
    internal = {n: np.array([d.to_internal_repr(t.params[n]) for t, _ in rows]) for n, d in space.items()}
    x = encode(internal, space)
    y = np.log([s / max(len(t.intermediate_values), 1) for t, s in rows])
    penalty = ridge * np.eye(x.shape[1])
    penalty[-1, -1] = 0.0  # the intercept is not shrunk
    weights = np.linalg.solve(x.T @ x + penalty, x.T @ y)
    return space, weights
