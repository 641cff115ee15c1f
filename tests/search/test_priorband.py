"""sampler=priorband with pruner=priorband (tuner.search.priorband) on real Optuna studies and storages: rung
budgets, the mix of prior, incumbent and uniform draws, asynchronous promotion by two workers, resume mid-rung,
and one real tiny study (PRUNED lower rungs, only full-fidelity trials COMPLETE and ranked)."""

from __future__ import annotations

import datetime
import math
import threading
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import optuna
import pytest
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend

from tuner.app import join_study, prepare, run_study
from tuner.config import compose
from tuner.errors import ConfigError
from tuner.search.priorband import (
    ORIGIN,
    PROMOTED_FROM,
    RUNG,
    RUNG_VALUE,
    PriorBandSampler,
    Rung,
    RungPruner,
    rung_of,
)
from tuner.study.ranking import leaderboard

from ..runs import assert_one_parent

SPACE = {"x": {"type": "float", "low": 0.0, "high": 1.0, "prior": {"value": 0.8, "confidence": "high"}},
         "learning_rate": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True},
         "optimizer": {"type": "categorical", "choices": ["adam", "sgd"], "prior": {"weights": {"adam": 3, "sgd": 1}}},
         "epochs": 9, "batch_size": 32}


OWN = "my_model.build"  # SPACE's x is a key of a builder of the user's own


def _sampler(**kw) -> PriorBandSampler:
    return PriorBandSampler(SPACE, seed=0, builder=OWN, **kw)


def _objective(trial: optuna.trial.Trial, pause: float = 0.0) -> float:
    """A rung's value: x, less noise the higher the rung; lower rungs end PRUNED as tuner's trials do."""
    x, rung = trial.suggest_float("x", 0.0, 1.0), rung_of(trial)
    trial.suggest_float("learning_rate", 1e-4, 1e-1, log=True)
    trial.suggest_categorical("optimizer", ["adam", "sgd"])
    time.sleep(pause)
    value = x + 0.01 * math.sin(trial.number)
    if not rung.full:
        trial.set_user_attr(RUNG_VALUE, value)
        raise optuna.TrialPruned(rung.describe())
    return value


@pytest.mark.parametrize(("full", "epochs"), [(6, [1, 2, 6]), (20, [3, 7, 20]), (1, [1, 1, 1]), (9, [1, 3, 9])])
def test_each_rung_costs_its_share_of_a_full_trial(full, epochs):
    rungs = [Rung(i) for i in range(3)]
    assert [r.budget for r in rungs] == [Fraction(1, 9), Fraction(1, 3), 1]
    assert [r.epochs(full) for r in rungs] == epochs
    for r in rungs:  # epochs x share of the images is the budget: never more than 1/9 at rung 0
        assert math.isclose(r.epochs(full) * r.data_fraction(full) / full, r.budget)
    assert rungs[0].describe() == "rung 1 of 3 (1/9 budget)" and rungs[2].full


@pytest.mark.slow  # trains
def test_a_rungs_schedule_spans_its_budget(make_cfg):
    from tuner.data import load_dataset, train_share
    from tuner.models import build_model, new_session
    from tuner.training import train

    cfg = make_cfg("+experiment=digits_mlp")
    data = load_dataset(cfg.data, cfg.seed)
    rung, full = Rung(0), 6
    share = train_share(data, rung.data_fraction(full), seed=0)
    counts = np.bincount(share.y_train, minlength=data.n_classes)
    assert abs(len(share.y_train) - len(data.y_train) * 2 / 3) <= data.n_classes and counts.min() > 0  # stratified
    assert np.array_equal(share.x_val, data.x_val) and share.pixel_mean is data.pixel_mean
    hp = {"arch": "mlp", "width": 8, "depth": 1, "dropout": 0.0, "activation": "relu", "initializer": "he_normal",
          "optimizer": "adam", "learning_rate": 0.01, "batch_size": 64, "epochs": rung.epochs(full),
          "lr_schedule": "cosine"}
    new_session(0)
    model = build_model(hp, data.input_shape, data.n_classes, data.pixel_mean)
    train(model, hp, share)
    steps = rung.epochs(full) * math.ceil(len(share.y_train) / 64)
    assert int(model.optimizer.iterations) == steps
    assert float(model.optimizer.learning_rate) < 1e-3 * 0.01  # the cosine reached its end with the rung


def _no_evidence(trial: optuna.trial.Trial) -> float:
    """A trial that records no rung value (as one stopped at the deadline): the sampler learns nothing."""
    trial.suggest_float("x", 0.0, 1.0)
    trial.suggest_categorical("optimizer", ["adam", "sgd"])
    raise optuna.TrialPruned()


def test_new_configurations_mix_prior_and_uniform_before_any_evidence():
    study = optuna.create_study(direction="maximize", sampler=_sampler(), pruner=RungPruner())
    study.optimize(_no_evidence, n_trials=400)
    trials = study.trials
    origins = [t.user_attrs[ORIGIN] for t in trials]
    assert {t.user_attrs[RUNG] for t in trials} == {0}
    assert abs(origins.count("prior") / 400 - 0.75) < 0.06 and origins.count("incumbent") == 0
    prior = [t.params["x"] for t in trials if t.user_attrs[ORIGIN] == "prior"]
    flat = [t.params["x"] for t in trials if t.user_attrs[ORIGIN] == "uniform"]
    assert np.std(prior) < 0.07 and abs(np.mean(prior) - 0.8) < 0.03  # a strong prior concentrates the draws
    assert np.std(flat) > 0.25  # uniform ones spread over [0, 1]
    adam = [t.params["optimizer"] == "adam" for t in trials if t.user_attrs[ORIGIN] == "prior"]
    assert 0.65 < np.mean(adam) < 0.85  # weights 3:1


def _finished(number: int, rung: int, value: float, origin: str) -> optuna.trial.FrozenTrial:
    state = optuna.trial.TrialState.COMPLETE if rung == 2 else optuna.trial.TrialState.PRUNED
    attrs = {RUNG: rung, ORIGIN: origin, **({} if rung == 2 else {RUNG_VALUE: value})}
    trial = optuna.trial.create_trial(state=state, value=value if rung == 2 else None, params={"x": value},
                                      distributions={"x": optuna.distributions.FloatDistribution(0, 1)},
                                      user_attrs=attrs)
    trial.number = number
    return trial


def test_the_mix_moves_to_the_incumbent_with_evidence_and_away_from_a_bad_prior():
    sampler, up = _sampler(), optuna.study.StudyDirection.MAXIMIZE
    assert sampler.mix([], up) == {"prior": 0.75, "incumbent": 0.0, "uniform": 0.25}
    good = [_finished(i, 0, 0.9 if i % 2 else 0.1, "prior" if i % 2 else "uniform") for i in range(18)]
    bad = [_finished(i, 0, 0.1 if i % 2 else 0.9, "prior" if i % 2 else "uniform") for i in range(18)]
    full = [_finished(18 + i, 2, 0.5, "prior") for i in range(9)]
    assert sampler.mix(good, up)["prior"] == 0.75  # a prior that ranks well keeps its share
    trusted = sampler.mix(good + full, up)
    assert math.isclose(trusted["incumbent"], 0.75 * 9 / 12) and math.isclose(trusted["prior"], 0.75 * 3 / 12)
    # the top 6 of rung 0 all uniform draws: prior rate 1/11, uniform 7/11, s = 1/8, the prior keeps 2s = 1/4
    doubted = sampler.mix(bad, up)
    assert math.isclose(doubted["prior"], 0.75 / 4) and math.isclose(doubted["uniform"], 1 - 0.75 / 4)
    assert math.isclose(sum(doubted.values()), 1.0)


def test_the_incumbents_neighbourhood_stays_near_it():
    sampler = _sampler()
    best = _finished(0, 2, 0.2, "uniform")
    rng = np.random.default_rng(0)
    near = [sampler.draw("incumbent", best, rng)["x"] for _ in range(200)]
    assert abs(np.mean(near) - 0.2) < 0.02 and np.std(near) < 0.07


JOURNAL_LAG = datetime.timedelta(seconds=0.25)


def _worker(path: Path, seed: int, n_trials: int, errors: list) -> None:
    try:
        study = optuna.load_study(study_name="bands", storage=JournalStorage(JournalFileBackend(str(path))),
                                  sampler=PriorBandSampler(SPACE, seed=seed, builder=OWN), pruner=RungPruner())
        study.optimize(lambda t: _objective(t, pause=0.01 * (seed + 1)), n_trials=n_trials)
    except Exception as err:  # noqa: BLE001 - handed to the test
        errors.append(err)


def _check_promotions(trials: list[optuna.trial.FrozenTrial]) -> list[optuna.trial.FrozenTrial]:
    """Every promotion trains its source's params one rung up, no source is promoted twice, and every source
    was in the top 1/3 of its rung: of the results it could have seen (at least those ended a moment before the
    promotion started, at most those ended before it ended), fewer than a third of the most were better. The moment
    (JOURNAL_LAG) is the time another worker's trial may take from its end time to its record in the journal."""
    by_number = {t.number: t for t in trials}
    promoted = [t for t in trials if t.user_attrs.get(PROMOTED_FROM) is not None]
    sources = [t.user_attrs[PROMOTED_FROM] for t in promoted]
    assert len(sources) == len(set(sources)), sources
    for t in promoted:
        source = by_number[t.user_attrs[PROMOTED_FROM]]
        assert t.params == source.params and t.user_attrs[RUNG] == source.user_attrs[RUNG] + 1
        peers = [p for p in trials if p.user_attrs.get(RUNG) == source.user_attrs[RUNG] and RUNG_VALUE in p.user_attrs]
        seen = [p for p in peers if p.datetime_complete <= t.datetime_start - JOURNAL_LAG]
        most = [p for p in peers if p.datetime_complete <= t.datetime_complete]
        better = sum(p.user_attrs[RUNG_VALUE] > source.user_attrs[RUNG_VALUE] for p in seen)
        assert better < len(most) // 3, (t.number, source.number, better, len(most))
    return promoted


def test_two_workers_promote_asynchronously_and_never_twice(tmp_path):
    path = tmp_path / "journal.log"
    optuna.create_study(study_name="bands", direction="maximize",
                        storage=JournalStorage(JournalFileBackend(str(path))))
    errors: list = []
    threads = [threading.Thread(target=_worker, args=(path, seed, 30, errors)) for seed in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors and not any(t.is_alive() for t in threads)
    trials = optuna.load_study(study_name="bands", storage=JournalStorage(JournalFileBackend(str(path)))).trials
    assert len(trials) == 60
    promoted = _check_promotions(trials)
    assert {t.user_attrs[RUNG] for t in promoted} == {1, 2}
    # asynchronous: rung 1 started before rung 0 had its 60 - ... results, while both workers were still drawing
    first_up = min(t.number for t in promoted)
    assert first_up < 10
    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert complete and all(t.user_attrs[RUNG] == 2 for t in complete)
    assert all(t.user_attrs[RUNG] < 2 for t in trials if t.state == optuna.trial.TrialState.PRUNED)


def test_a_resumed_study_promotes_again_what_a_killed_worker_did_not_finish(tmp_path):
    storage = JournalStorage(JournalFileBackend(str(tmp_path / "journal.log")))
    study = optuna.create_study(study_name="bands", direction="maximize", storage=storage,
                                sampler=_sampler(), pruner=RungPruner())
    study.optimize(_objective, n_trials=3)  # three rung-0 results: the best is due for rung 1
    best = max(study.trials, key=lambda t: t.user_attrs[RUNG_VALUE])
    killed = study.ask()  # the promotion a worker took, then died in (the reaper marks it FAIL)
    assert killed.user_attrs[PROMOTED_FROM] == best.number and killed.user_attrs[RUNG] == 1
    study.tell(killed, state=optuna.trial.TrialState.FAIL)

    resumed = optuna.load_study(study_name="bands", storage=storage, sampler=_sampler(), pruner=RungPruner())
    resumed.optimize(_objective, n_trials=1)  # a fresh sampler: everything it knows is in the storage
    again = resumed.trials[-1]
    assert again.user_attrs[PROMOTED_FROM] == best.number and again.user_attrs[RUNG] == 1
    assert again.params == best.params and again.state == optuna.trial.TrialState.PRUNED
    resumed.optimize(_objective, n_trials=1)
    assert resumed.trials[-1].user_attrs.get(PROMOTED_FROM) is None  # promoted once is enough: a new draw


@pytest.mark.parametrize(("overrides", "message"), [
    (["sampler=priorband"], "add pruner=priorband"),
    (["pruner=priorband"], "add sampler=priorband"),
    (["sampler=priorband", "pruner=priorband", "search.metric=[val_accuracy,n_params]",
      "search.direction=[maximize,minimize]"], "sampler=priorband ranks configurations by one objective"),
    (["sampler=priorband", "pruner=priorband", "sampler.eta=1"], "sampler.eta=1 must be a whole number >= 2"),
    (["sampler=priorband", "pruner=priorband", "+search.space.dropout.prior={value:0.9}"],
     "search.space.dropout.prior.value=0.9 is outside search.space.dropout"),
])
def test_bad_setups_are_config_errors(overrides, message):
    with pytest.raises(ConfigError, match=message):
        prepare(compose(overrides))


@pytest.mark.slow
def test_a_tiny_study_prunes_lower_rungs_and_ranks_only_full_trials(make_cfg):
    # two rungs (1/3, 1) so that trial 3, the best of the first three promoted, is surely a full one
    cfg = make_cfg("+experiment=digits_mlp", "sampler=priorband", "pruner=priorband", "sampler.rungs=2",
                   "search.space.epochs=3", "search.n_trials=6")
    best = run_study(cfg)
    trials = join_study(cfg).trials
    assert len(trials) == 6 and trials[3].state.name == "COMPLETE" and {t.state.name for t in trials} <= {"COMPLETE", "PRUNED"}
    for t in trials:
        rung = rung_of(t)
        assert t.user_attrs["epochs_run"] == rung.epochs(3)
        assert (t.state.name == "COMPLETE") == rung.full
    pruned = [t for t in trials if t.state.name == "PRUNED"]
    assert pruned and all(RUNG_VALUE in t.user_attrs for t in pruned)
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    assert complete and best == max(t.value for t in complete)
    _check_promotions(trials)
    board = leaderboard(join_study(cfg))
    assert list(board["state"][:len(complete)]) == ["COMPLETE"] * len(complete)
    _, children = assert_one_parent(cfg.tracking.uri, cfg.name, 6)  # MLflow says why each lower rung stopped
    runs = children.set_index(children["tags.optuna.trial_number"].astype(int))
    for t in pruned:
        assert runs.loc[t.number, "tags.optuna.state"] == "PRUNED"
        assert runs.loc[t.number, "tags.optuna.prune_reason"].startswith("rung 1 of 2 (1/3 budget): val_accuracy=")


def test_the_sampler_reads_the_space_as_the_builder_does():
    space = compose(["search/space=mlp_vs_cnn"]).search.space
    own = PriorBandSampler(space, seed=0).space
    assert own["filters"].when == {"arch": ("cnn",)}  # tuner's builder: CNN-only entries only when arch=cnn
    rng = np.random.default_rng(0)
    for _ in range(20):
        drawn = PriorBandSampler(space, seed=0).draw("uniform", None, rng)
        assert ("filters" in drawn) == (drawn.get("arch", "cnn") == "cnn")
    with pytest.raises(ConfigError, match="unknown hyperparameter 'x'"):
        PriorBandSampler(SPACE, seed=0)  # x is no key of tuner's builder
