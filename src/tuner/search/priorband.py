"""``sampler=priorband`` with ``pruner=priorband``: prior-guided successive halving with asynchronous promotion,
after PriorBand (Mallik et al. 2023) on ASHA's rungs (Li et al. 2020).

A configuration first trains at rung 0, the cheapest budget (``eta ** -(rungs - 1)`` of a full trial: 1/9 with
``eta=3, rungs=3``); each rung is a new Optuna trial with the same parameters and ``eta`` times the budget. A
rung's budget is a share of a full trial's epochs times images: ``Rung.epochs`` (rounded up) and
``Rung.data_fraction`` (of the training images, the rest of the share), so the trial's learning-rate schedule,
which spans the epochs and batches it trains, spans the rung: a rung is a short but complete training.

Whenever a worker asks for a trial (``before_trial``), the sampler promotes, from the highest rung down, the
best configuration that is in the top ``1/eta`` of its rung so far and not yet promoted (no worker waits for a
rung to fill); if none is due, it draws a new configuration at rung 0 from a mix of

- the prior (``search.space.<name>.prior``; uniform for entries without one),
- the incumbent's neighbourhood (the best full-fidelity configuration, perturbed: ``neighbourhood``), and
- uniform over the space,

``mix`` says how much of each: the incumbent's share grows with the full-fidelity evidence, and the prior keeps
its share only while its configurations rank at rung 0 at least as well as uniform ones (a bad prior hands its
share to uniform, as PriorBand's prior scoring does).

Everything lives in the study's storage (trial user attributes ``tuner.rung*``, ``tuner.origin``,
``tuner.promoted_from``), so any number of workers, and a resumed run, agree. Lower rungs end PRUNED (they count
toward ``search.n_trials``); only the top rung is COMPLETE, ranks on the leaderboard and can be exported.

Example::

    sampler = PriorBandSampler(space_cfg, seed=0)  # conf/sampler/priorband.yaml
    study = optuna.create_study(direction="maximize", sampler=sampler, pruner=RungPruner())
    # in the objective: rung = rung_of(trial); train rung.epochs(full) epochs on rung.data_fraction(full)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Any

import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState

from tuner.errors import ConfigError
from tuner.search.prior import CONFIDENCE_SD, Prior, sample_prior
from tuner.search.space import Param, parse_space

RUNG, RUNGS, ETA = "tuner.rung", "tuner.rungs", "tuner.eta"  # user attrs: this trial's rung, of how many, eta
ORIGIN = "tuner.origin"  # prior | incumbent | uniform | enqueued: where the configuration was drawn from
PROMOTED_FROM = "tuner.promoted_from"  # the trial number whose configuration this trial trains at the next rung
RUNG_VALUE = "tuner.rung_value"  # a lower rung's final value (the trial itself ends PRUNED)
ORIGINS = ("prior", "incumbent", "uniform")
LIVE = (TrialState.RUNNING, TrialState.WAITING, TrialState.COMPLETE, TrialState.PRUNED)


@dataclass(frozen=True)
class Rung:
    """Rung ``index`` (0: the cheapest) of ``count`` rungs, each ``eta`` times the budget of the one below."""

    index: int
    count: int = 3
    eta: int = 3

    @property
    def budget(self) -> Fraction:
        """This rung's share of a full trial's cost (epochs times training images)."""
        return Fraction(1, self.eta ** (self.count - 1 - self.index))

    @property
    def full(self) -> bool:
        return self.index == self.count - 1

    def epochs(self, full_epochs: int) -> int:
        """Epochs of this rung for a configuration whose full trial trains ``full_epochs``."""
        return max(1, math.ceil(self.budget * full_epochs))

    def data_fraction(self, full_epochs: int) -> float:
        """The share of the training images each epoch of this rung trains on (the budget's remainder)."""
        return float(min(Fraction(1), self.budget * full_epochs / self.epochs(full_epochs)))

    def describe(self) -> str:
        return f"rung {self.index + 1} of {self.count} ({self.budget} budget)"


def rung_of(trial: Any) -> Rung | None:
    """The rung a trial trains at (None outside ``sampler=priorband``); works on any trial with ``user_attrs``."""
    attrs = trial.user_attrs
    if RUNG not in attrs:
        return None
    return Rung(int(attrs[RUNG]), int(attrs[RUNGS]), int(attrs[ETA]))


def trial_cost(trial: Any) -> Fraction:
    """A trial's share of a full trial's training budget: its rung's budget, 1 outside ``sampler=priorband``.

    ``search.trials_per_worker`` counts trials by this, so a worker running rung-0 trials of a ninth of the cost
    is not replaced nine times as often (a fresh worker costs its start: Python, TensorFlow, the data, MLflow).
    """
    rung = rung_of(trial)
    return Fraction(1) if rung is None else rung.budget


class RungPruner(optuna.pruners.BasePruner):
    """``pruner=priorband``: never stops a trial inside its rung (the rungs are the pruning); a lower rung's trial
    ends PRUNED by itself once it has trained its budget."""

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        return False


def check_setup(sampler: optuna.samplers.BaseSampler, pruner: optuna.pruners.BasePruner, n_goals: int) -> None:
    """Refuse a priorband sampler with another pruner (or the reverse), or a multi-objective study."""
    bands = isinstance(sampler, PriorBandSampler), isinstance(pruner, RungPruner)
    if bands[0] != bands[1]:
        raise ConfigError("sampler=priorband and pruner=priorband go together (the rungs do the pruning): "
                          "add " + ("pruner=priorband" if bands[0] else "sampler=priorband, or choose another pruner"))
    if bands[0] and n_goals > 1:
        raise ConfigError("sampler=priorband ranks configurations by one objective: give search.metric one metric, "
                          "or choose another sampler (e.g. sampler=tpe pruner=none)")


class PriorBandSampler(optuna.samplers.BaseSampler):
    """Prior-guided asynchronous successive halving (module docstring). ``space``: the raw ``search.space``."""

    def __init__(self, space: Mapping[str, Any], seed: int | None = None, eta: int = 3, rungs: int = 3,
                 uniform_share: float = 0.25, neighbourhood: str = "high", incumbent_weight: float = 4.0,
                 builder: str | None = None) -> None:
        if not isinstance(eta, int) or eta < 2:
            raise ConfigError(f"sampler.eta={eta!r} must be a whole number >= 2 (3: each rung keeps the top third)")
        if not isinstance(rungs, int) or rungs < 2:
            raise ConfigError(f"sampler.rungs={rungs!r} must be a whole number >= 2 (3 with eta=3: budgets 1/9, 1/3, 1)")
        if not 0.0 <= uniform_share < 1.0:
            raise ConfigError(f"sampler.uniform_share={uniform_share!r} must be in [0, 1)")
        if neighbourhood not in CONFIDENCE_SD:
            raise ConfigError(f"unknown sampler.neighbourhood {neighbourhood!r}; choose one of: low, medium, high")
        # ``builder``: model.builder; None is tuner's own (its keys checked, CNN-only entries only when arch=cnn)
        self.space: dict[str, Param] = parse_space(space, user_builder=builder not in (None, "tuner.models.build_model"))
        self.seed = 0 if seed is None else int(seed)
        self.eta, self.rungs, self.uniform_share = eta, rungs, uniform_share
        self.neighbourhood, self.incumbent_weight = neighbourhood, incumbent_weight
        self._params: dict[int, dict[str, Any]] = {}  # trial id -> the configuration it trains
        self._random = optuna.samplers.RandomSampler(seed)

    # -- Optuna's sampler interface ---------------------------------------------------------------------------

    def infer_relative_search_space(self, study: optuna.Study, trial: FrozenTrial) -> dict:
        return {}

    def sample_relative(self, study: optuna.Study, trial: FrozenTrial, search_space: dict) -> dict:
        return {}

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        if len(study.directions) > 1:
            raise ConfigError("sampler=priorband ranks configurations by one objective: give search.metric one metric")
        trials = study.get_trials(deepcopy=False)
        rng = np.random.default_rng([self.seed, trial.number])
        source = self.promotion(trials, study.direction, trial.number)
        if source is not None:
            self._mark(study, trial, {RUNG: int(source.user_attrs[RUNG]) + 1, ORIGIN: source.user_attrs.get(ORIGIN),
                                      PROMOTED_FROM: source.number})
            if not self._claim_holds(study, trial, source.number):
                self._mark(study, trial, {PROMOTED_FROM: None})  # another worker promoted it first: draw anew
                source = None
            else:
                self._params[trial._trial_id] = dict(source.params)
        if source is None:
            enqueued = bool(trial.system_attrs.get("fixed_params"))
            origin = "enqueued" if enqueued else str(rng.choice(ORIGINS, p=list(self.mix(trials, study.direction)
                                                                                     .values())))
            self._params[trial._trial_id] = self.draw(origin, self.incumbent(trials, study.direction), rng)
            self._mark(study, trial, {RUNG: 0, ORIGIN: origin})
        self._mark(study, trial, {RUNGS: self.rungs, ETA: self.eta})

    def sample_independent(self, study: optuna.Study, trial: FrozenTrial, param_name: str,
                           param_distribution: optuna.distributions.BaseDistribution) -> Any:
        params = self._params.get(trial._trial_id, {})
        if param_name in params:
            return params[param_name]
        return self._random.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(self, study: optuna.Study, trial: FrozenTrial, state: TrialState,
                    values: Sequence[float] | None) -> None:
        self._params.pop(trial._trial_id, None)

    # -- the algorithm --------------------------------------------------------------------------------------------

    def results(self, trials: Sequence[FrozenTrial], rung: int,
                direction: optuna.study.StudyDirection) -> list[FrozenTrial]:
        """The finished trials of ``rung`` with a value, best first."""
        done = [t for t in trials if t.user_attrs.get(RUNG) == rung and _value(t) is not None]
        sign = -1.0 if direction == optuna.study.StudyDirection.MAXIMIZE else 1.0
        return sorted(done, key=lambda t: (sign * _value(t), t.number))

    def promotion(self, trials: Sequence[FrozenTrial], direction: optuna.study.StudyDirection,
                  number: int) -> FrozenTrial | None:
        """The configuration due for the next rung (ASHA: top ``1/eta`` of its rung so far, highest rung first)."""
        claimed = {t.user_attrs.get(PROMOTED_FROM) for t in trials if t.state in LIVE and t.number != number}
        for rung in reversed(range(self.rungs - 1)):
            done = self.results(trials, rung, direction)
            for t in done[:len(done) // self.eta]:
                if t.number not in claimed:
                    return t
        return None

    def _claim_holds(self, study: optuna.Study, trial: FrozenTrial, source: int) -> bool:
        """Whether no other live trial claims ``source`` (read after this trial's claim was written, so of two
        workers that claim at once at least one backs off)."""
        return not any(t.user_attrs.get(PROMOTED_FROM) == source and t.state in LIVE and t.number != trial.number
                       for t in study.get_trials(deepcopy=False))

    def incumbent(self, trials: Sequence[FrozenTrial], direction: optuna.study.StudyDirection) -> FrozenTrial | None:
        top = self.results(trials, self.rungs - 1, direction)
        return top[0] if top else None

    def mix(self, trials: Sequence[FrozenTrial], direction: optuna.study.StudyDirection) -> dict[str, float]:
        """The chances a new configuration is drawn from the prior, the incumbent's neighbourhood, or uniform.

        ``g = full / (full + eta)`` of the non-uniform mass goes to the incumbent (``full``: configurations
        finished at the top rung); the rest to the prior, scaled by ``min(1, 2 s)`` where ``s`` is how well prior
        draws rank at rung 0 against uniform ones (``s = r_prior / (r_prior + r_uniform)``, ``r``: the share of
        an origin's rung-0 results in that rung's top ``1/eta``, with one hit and one miss added to each); what the
        prior does not keep goes to uniform.
        """
        full = len(self.results(trials, self.rungs - 1, direction))
        g = full / (full + self.eta)
        base = self.results(trials, 0, direction)
        top = {t.number for t in base[:max(1, len(base) // self.eta)]}
        rate = {}
        for origin in ("prior", "uniform"):
            drawn = [t for t in base if t.user_attrs.get(ORIGIN) == origin]
            rate[origin] = (sum(t.number in top for t in drawn) + 1) / (len(drawn) + 2)
        s = rate["prior"] / (rate["prior"] + rate["uniform"])
        mass = 1.0 - self.uniform_share
        incumbent = mass * g
        prior = mass * (1.0 - g) * min(1.0, 2.0 * s)
        return {"prior": prior, "incumbent": incumbent, "uniform": 1.0 - prior - incumbent}

    def draw(self, origin: str, incumbent: FrozenTrial | None, rng: np.random.Generator) -> dict[str, Any]:
        """A configuration from ``origin``: its prior, the incumbent's neighbourhood, or uniform (conditions kept)."""
        values: dict[str, Any] = {}
        for name, p in self.space.items():
            if not p.active(values):
                continue
            if origin == "uniform":
                p = replace(p, prior=None)
            elif origin == "incumbent" and incumbent is not None and name in incumbent.params:
                p = self._around(p, incumbent.params[name])
            values[name] = sample_prior(p, rng)
        return {k: v for k, v in values.items() if self.space[k].type != "fixed"}

    def _around(self, p: Param, value: Any) -> Param:
        """``p`` with a prior centred on ``value``: the incumbent's neighbourhood."""
        if p.type == "categorical":
            weights = tuple((c, self.incumbent_weight if c == value else 1.0) for c in p.choices)
            return replace(p, prior=Prior(weights=weights))
        if p.type in ("int", "float"):
            return replace(p, prior=Prior(value=value, confidence=self.neighbourhood))
        return p

    @staticmethod
    def _mark(study: optuna.Study, trial: FrozenTrial, attrs: Mapping[str, Any]) -> None:
        """Write ``attrs`` to the trial in the storage and in the frozen copy the running trial reads."""
        for key, value in attrs.items():
            study._storage.set_trial_user_attr(trial._trial_id, key, value)
            trial.set_user_attr(key, value)


def _value(t: FrozenTrial) -> float | None:
    """A trial's value at its rung: COMPLETE's value, a lower rung's recorded value (``RUNG_VALUE``)."""
    if t.state == TrialState.COMPLETE and t.values:
        return float(t.values[0])
    if t.state == TrialState.PRUNED and t.user_attrs.get(RUNG_VALUE) is not None:
        return float(t.user_attrs[RUNG_VALUE])
    return None
