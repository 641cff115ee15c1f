"""The budget plan (issue 23, point 4): with search.timeout, the planned trials are sized to this machine's speed."""

from __future__ import annotations

import logging
import time

import optuna
import pytest

from tuner import app
from tuner.app import join_study, run_study
from tuner.data import load_dataset
from tuner.runner import budget
from tuner.runner.budget import fit_plan
from tuner.runner.objective import Context, TrialRunner
from tuner.search import sample
from tuner.search.priorband import ETA, PROMOTED_FROM, RUNG, RUNGS, rung_of
from tuner.study import records
from tuner.tracking.tracker import Tracker


def test_a_plan_that_fits_is_left_alone():
    fit = fit_plan(asked=20, planned=4, workers=1, seconds_left=3700, epoch_s=40, overhead_s=30, min_share=0.5)
    assert (fit.epochs, fit.trials, fit.changed) == (20, 4, False)


def test_a_plan_that_overruns_trains_fewer_epochs_in_every_planned_trial():
    # the slower machine: 61 s an epoch, four 20-epoch trials, 58 minutes left
    fit = fit_plan(asked=20, planned=4, workers=1, seconds_left=58 * 60, epoch_s=61, overhead_s=20, min_share=0.5)
    assert fit.trials == 4 and fit.epochs == 12  # floor((0.9 * 3480 / 4 - 20) / 61)
    usable = budget.SAFETY * 58 * 60
    assert 4 * (fit.epochs * 61 + 20) <= usable < 4 * ((fit.epochs + 1) * 61 + 20)
    assert "12 epochs each" in fit.reason and "search.budget_min_share=0.5" in fit.reason


def test_below_the_floor_the_last_planned_trials_are_dropped_and_below_one_none_runs():
    fit = fit_plan(asked=20, planned=4, workers=1, seconds_left=30 * 60, epoch_s=61, overhead_s=20, min_share=0.75)
    assert fit.trials == 1 and fit.epochs >= 15 and "3 of them dropped" in fit.reason
    fit = fit_plan(asked=20, planned=4, workers=1, seconds_left=30 * 60, epoch_s=61, overhead_s=20, min_share=0.5)
    assert (fit.trials, fit.epochs) == (2, 12)  # two at 12 epochs fit; three would get 8, under the floor of 10
    none = fit_plan(asked=20, planned=1, workers=1, seconds_left=5 * 60, epoch_s=61, overhead_s=20, min_share=0.5)
    assert none.epochs is None and none.trials == 0 and "at least 10 of its 20 epochs" in none.reason


def test_workers_run_the_planned_trials_side_by_side():
    alone = fit_plan(asked=20, planned=4, workers=1, seconds_left=2700, epoch_s=60, overhead_s=0, min_share=0.5)
    two = fit_plan(asked=20, planned=4, workers=2, seconds_left=2700, epoch_s=60, overhead_s=0, min_share=0.5)
    assert alone.epochs == 10 and two.epochs == 20 and not two.changed


def test_a_priorband_bracket_caps_the_full_epochs_to_fit():
    # eta 3, 3 rungs: 13 trials, 3 full trials' worth of epochs, in 90% of the time
    assert budget.bracket_cap(3, 3, 1, seconds=600, epoch_s=10, overhead_s=0) == 18  # 540 // 30
    assert budget.bracket_cap(3, 3, 1, seconds=600, epoch_s=10, overhead_s=10) == 13  # (540 - 130) // 30
    assert budget.bracket_cap(3, 3, 2, seconds=600, epoch_s=10, overhead_s=10) == 31  # (1080 - 130) // 30
    assert budget.bracket_cap(3, 3, 1, seconds=10, epoch_s=10, overhead_s=10) == 1


def test_speed_is_the_mean_steady_epoch_per_image_and_the_median_of_the_latest_trials():
    assert budget.epoch_speed([5.0, 7.0, 9.5, 11.5], fit_start=0.0, images=100) == pytest.approx(0.065 / 3)
    assert budget.epoch_speed([5.0], fit_start=1.0, images=100) == pytest.approx(0.04)
    study = optuna.create_study()
    for per_image, overhead in [(9.0, 9.0), (0.1, 1.0), (0.2, 2.0), (0.3, 3.0), (0.4, 4.0), (0.5, 5.0)]:
        study.add_trial(optuna.trial.create_trial(value=0.5, user_attrs={budget.SECONDS_PER_IMAGE: per_image,
                                                                          budget.OVERHEAD: overhead}))
    assert budget.measured_speed(optuna.create_study().trials) is None
    speed = budget.measured_speed(study.trials)  # the first trial is older than the latest five
    assert (speed.seconds_per_image, speed.overhead_s) == (pytest.approx(0.3), pytest.approx(3.0))


def _runner(cfg, study: optuna.Study, seconds_left: float) -> TrialRunner:
    """A TrialRunner for the study's next trial, its hyperparameters drawn, ``seconds_left`` on the clock."""
    plan = app.plan(cfg)
    space = app.prepare(cfg).space
    ctx = Context(plan, space, load_dataset(cfg.data, cfg.seed), tracker=None, parent_id="",
                  deadline=time.monotonic() + seconds_left)
    runner = TrialRunner(ctx, study.ask())
    runner.hp = sample(runner.trial, space)
    return runner


def _measured(study: optuna.Study, epoch_s: float, overhead_s: float, images: int) -> None:
    study.add_trial(optuna.trial.create_trial(value=0.5, user_attrs={budget.SECONDS_PER_IMAGE: epoch_s / images,
                                                                      budget.OVERHEAD: overhead_s}))


def test_a_planned_trial_is_cut_by_the_measured_speed_and_says_why(make_cfg, caplog):
    cfg = make_cfg("+experiment=digits_mlp", "search.space.epochs=20", "search.timeout=3600")
    images = len(load_dataset(cfg.data, cfg.seed).x_train)
    study = optuna.create_study(direction="maximize")
    _measured(study, epoch_s=61.0, overhead_s=20.0, images=images)
    for width in (8, 12, 16, 10):
        study.enqueue_trial({"width": width})
    runner = _runner(cfg, study, seconds_left=58 * 60 / budget.SAFETY)
    with caplog.at_level(logging.INFO, logger="tuner.runner"):
        runner.plan_budget()
    assert runner.hp["epochs"] == 13 and not runner.no_time  # as the slower machine: 4 trials fit at 13
    attrs = study.trials[1].user_attrs
    assert attrs[budget.ASKED_EPOCHS] == 20 and "13 epochs each" in attrs[budget.BUDGET_NOTE]
    assert "budget plan: 13 epochs instead of 20" in caplog.text

    fast = optuna.create_study(direction="maximize")  # a faster machine: the plan stands
    _measured(fast, epoch_s=20.0, overhead_s=20.0, images=images)
    for width in (8, 12):
        fast.enqueue_trial({"width": width})
    runner = _runner(cfg, fast, seconds_left=58 * 60)
    runner.plan_budget()
    assert runner.hp["epochs"] == 20 and budget.ASKED_EPOCHS not in fast.trials[1].user_attrs


def _probed(runner: TrialRunner, build_s: float, epoch_s: float) -> None:
    """The trial's first two epochs as if it had taken ``build_s`` to build, then ``epoch_s`` each (and 1 s more
    the first, tracing the model)."""
    runner.started, runner.fit_start, runner.train_images = 0.0, build_s, len(runner.ctx.data.x_train)
    runner.epoch_ends = [build_s + 1 + epoch_s, build_s + 1 + 2 * epoch_s]


def test_a_planned_trial_slower_than_the_study_plans_again_at_its_own_speed(make_cfg, caplog):
    # the study's trials trained at 10 s an epoch: two planned 20-epoch trials fit, and each checks its own speed
    cfg = make_cfg("+experiment=digits_mlp", "search.space.epochs=20", "search.timeout=3600")
    images = len(load_dataset(cfg.data, cfg.seed).x_train)
    study = optuna.create_study(direction="maximize")
    _measured(study, epoch_s=10.0, overhead_s=20.0, images=images)

    def planned(seconds_left: float) -> TrialRunner:
        for width in (8, 12):
            study.enqueue_trial({"width": width})
        runner = _runner(cfg, study, seconds_left)
        runner.ctx.tracker = Tracker(cfg.tracking.uri, cfg.name)
        runner.plan_budget()
        assert runner.hp["epochs"] == 20 and runner.probe == [] and not runner.run_id  # it fits: it checks
        study.tell(study.ask(), 0.5)  # the other planned trial: out of the queue for the next check
        return runner

    seconds = 2 * (10 * 20 + 20) / budget.SAFETY + 5  # both planned trials fit at 10 s an epoch, 10 at 20 s
    faster = planned(seconds)
    _probed(faster, build_s=5.0, epoch_s=5.0)
    faster.end_probe()  # no Replan: it goes on with its epochs so far
    assert faster.hp["epochs"] == 20 and faster.run_id and faster.probe_seconds == 0.0

    slower = planned(seconds)
    _probed(slower, build_s=5.0, epoch_s=20.0)
    with caplog.at_level(logging.INFO, logger="tuner.runner"), pytest.raises(budget.Replan):
        slower.end_probe()
    assert slower.hp["epochs"] == 10 and slower.run_id and slower.probe_seconds > 0
    assert slower.trial.user_attrs[budget.ASKED_EPOCHS] == 20  # the epochs first asked: the floor is half of them
    assert "trial 3 trains slower than the study's latest trials: 20.00 s an epoch" in caplog.text
    assert "budget plan: 10 epochs instead of 20" in caplog.text

    slowest = planned(seconds)
    _probed(slowest, build_s=5.0, epoch_s=60.0)  # not even 10 epochs fit: it stops, and so does the search
    with pytest.raises(optuna.TrialPruned, match="budget plan: a trial of at least 10 of its 20 epochs"):
        slowest.end_probe()
    assert slowest.ctx.out_of_time


def test_a_searched_trial_that_cannot_finish_does_not_start(make_cfg):
    cfg = make_cfg("+experiment=digits_mlp", "search.space.epochs=20", "search.timeout=3600")
    images = len(load_dataset(cfg.data, cfg.seed).x_train)
    study = optuna.create_study(direction="maximize")
    _measured(study, epoch_s=10.0, overhead_s=5.0, images=images)
    runner = _runner(cfg, study, seconds_left=150 / budget.SAFETY)  # 14 epochs fit, not 20
    runner.plan_budget()
    assert runner.hp["epochs"] == 14
    runner = _runner(cfg, study, seconds_left=60)  # not even the floor of 10 epochs
    runner.plan_budget()
    assert "at least 10 of its 20 epochs" in runner.no_time
    off = make_cfg("+experiment=digits_mlp", "search.space.epochs=20", "search.timeout=3600", "search.budget_plan=false")
    runner = _runner(off, study, seconds_left=60)
    runner.plan_budget()
    assert runner.hp["epochs"] == 20 and not runner.no_time


def test_a_priorband_bracket_is_sized_once_for_the_study(make_cfg):
    cfg = make_cfg("+experiment=digits_mlp", "sampler=priorband", "pruner=priorband", "search.space.epochs=18",
                   "search.timeout=600")
    images = len(load_dataset(cfg.data, cfg.seed).x_train)
    study = optuna.create_study(direction="maximize", sampler=app.prepare(cfg).sampler)
    study.add_trial(optuna.trial.create_trial(value=0.5, user_attrs={  # one epoch, tracing in: no cap from it
        budget.SECONDS_PER_IMAGE: 30.0 / images, budget.OVERHEAD: 0.0, budget.STEADY: False}))
    first = _runner(cfg, study, seconds_left=301 / budget.SAFETY)
    first.rung, first.full_epochs = rung_of(first.trial), 18
    first.plan_budget()
    assert first.full_epochs == 18 and budget.FULL_EPOCHS_CAP not in study.user_attrs
    _measured(study, epoch_s=10.0, overhead_s=0.0, images=images)
    runner = _runner(cfg, study, seconds_left=301 / budget.SAFETY)  # 3 full trials' worth: 10 epochs a full trial
    runner.rung, runner.full_epochs = rung_of(runner.trial), 18
    runner.plan_budget()
    assert runner.rung is not None and runner.full_epochs == 10 and study.user_attrs[budget.FULL_EPOCHS_CAP] == 10
    later = _runner(cfg, study, seconds_left=30)  # the cap stands: it is not shrunk again as the clock runs down
    later.rung, later.full_epochs = rung_of(later.trial), 18
    later.plan_budget()
    assert later.full_epochs == 10


def _promoted(trial: optuna.Trial, rung: int, source: int) -> None:
    """Mark ``trial`` as the promotion of trial number ``source`` to ``rung`` (of 3, eta 3)."""
    for key, value in {RUNG: rung, RUNGS: 3, ETA: 3, PROMOTED_FROM: source}.items():
        trial.set_user_attr(key, value)


def test_a_promoted_rung_is_sized_by_its_own_configurations_speed(make_cfg, caplog):
    # the study trains at 1 s an epoch, but this configuration measured 10 s an epoch at its lower rung (trial 3)
    cfg = make_cfg("+experiment=digits_mlp", "sampler=priorband", "pruner=priorband", "search.space.epochs=18",
                   "search.timeout=600")
    images = len(load_dataset(cfg.data, cfg.seed).x_train)
    study = optuna.create_study(direction="maximize", sampler=app.prepare(cfg).sampler)
    study.set_user_attr(budget.FULL_EPOCHS_CAP, 18)  # the bracket's cap stands aside: 18 epochs fit
    for _ in range(3):
        _measured(study, epoch_s=1.0, overhead_s=0.0, images=images)
    _measured(study, epoch_s=10.0, overhead_s=5.0, images=images)  # trial 3

    def promoted(rung: int, seconds_left: float, source: int = 3) -> TrialRunner:
        runner = _runner(cfg, study, seconds_left)
        _promoted(runner.trial, rung, source)
        runner.rung, runner.full_epochs = rung_of(runner.trial), 18
        with caplog.at_level(logging.INFO, logger="tuner.runner"):
            runner.plan_budget()
        return runner

    full = promoted(2, seconds_left=130 / budget.SAFETY)  # 12 of its 18 epochs (and 5 s more) fit at its speed
    assert full.full_epochs == 12 and not full.no_time
    assert full.trial.user_attrs[budget.ASKED_EPOCHS] == 18
    assert full.trial.user_attrs[budget.BUDGET_NOTE].startswith("rung 3 of 3 (1 budget): ")
    assert "budget plan: 12 epochs instead of 18" in caplog.text
    assert "at least 9 of its 18 epochs" in promoted(2, seconds_left=60).no_time  # the floor does not fit: no start
    assert promoted(1, seconds_left=100).no_time == ""  # rung 2: 6 epochs of 10 s and 5 s more fit in 95 s
    assert promoted(1, seconds_left=60).no_time == ("rung 2 of 3 (1/3 budget) of 6 epochs needs about 1.1 min at "
                                                    "10.0 s an epoch, 1.0 min are left")
    fresh = promoted(2, seconds_left=60, source=full.trial.number)  # its lower rung measured nothing: the median
    assert fresh.full_epochs == 18 and not fresh.no_time  # 18 epochs of 1 s fit


@pytest.mark.slow
def test_an_overrunning_plan_is_measured_cut_and_finishes_inside_the_timeout(make_cfg, caplog):
    # three enqueued 150-epoch trials where the clock allows far fewer epochs: the first measures the machine and is cut
    cfg = make_cfg("+experiment=digits_mlp", "search.space.epochs=150", "search.n_trials=3", "search.timeout=45",
                   "search.enqueue=[{width:8},{width:12},{width:16}]")
    start = time.monotonic()
    with caplog.at_level(logging.INFO, logger="tuner.runner"):
        run_study(cfg)
    trials = join_study(cfg).trials
    assert "budget plan: trial 0 measured this machine on its first 2 epochs" in caplog.text
    first = trials[0]
    assert first.state.name == "COMPLETE" and first.user_attrs[budget.ASKED_EPOCHS] == 150
    assert 75 <= first.user_attrs[records.EPOCHS_RUN] < 150 and budget.SECONDS_PER_IMAGE in first.user_attrs
    assert first.user_attrs[records.HPARAMS]["epochs"] == first.user_attrs[records.EPOCHS_RUN]  # the replay's too
    for t in trials:  # each ran its planned epochs to the end, or was dropped by the plan: none cut half-trained
        assert records.STOPPED_AT_DEADLINE not in t.user_attrs
        assert t.state.name in ("COMPLETE", "PRUNED", "WAITING")  # PRUNED: dropped; WAITING: a resume runs it
        if t.state.name == "COMPLETE":
            assert t.user_attrs[records.EPOCHS_RUN] >= 75
    assert time.monotonic() - start < 45 + 30


@pytest.mark.parametrize("share", ["0", "1.5", "-0.2"])
def test_a_share_outside_zero_to_one_is_refused_before_any_training(make_cfg, workdir, share):
    from tuner.errors import ConfigError

    with pytest.raises(ConfigError, match=rf"search.budget_min_share={float(share)}: give a share in \(0, 1\]"):
        run_study(make_cfg("+experiment=digits_mlp", f"search.budget_min_share={share}"))
    assert not (workdir / "experiments").exists()
