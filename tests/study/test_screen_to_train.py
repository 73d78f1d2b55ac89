from __future__ import annotations

import optuna
import pytest
from optuna.trial import TrialState

from ntknas.data import synthetic
from ntknas.study import (
    NotEnqueuedError,
    enqueue_top_k,
    make_train_objective,
    screen,
    top_trials,
)


@pytest.fixture
def screened(space, scorer):
    study = optuna.create_study(
        study_name="screen", direction="minimize", sampler=optuna.samplers.RandomSampler(seed=0)
    )
    screen(study, space, scorer, n_trials=8, batch=4)
    return study


@pytest.mark.slow
def test_top_k_enqueued_and_trained_with_epoch_reports(space, screened):
    train_study = optuna.create_study(direction="maximize")
    enqueued = enqueue_top_k(screened, train_study, 2)
    assert len(enqueued) == 2
    assert enqueue_top_k(screened, train_study, 2) == []  # idempotent
    best = top_trials(screened, 2)
    assert [t.number for t in best] == enqueued
    objective = make_train_objective(
        space, synthetic(200), synthetic(60, split="test"), epochs=2, batch_size=50, subset=100
    )
    train_study.optimize(objective, n_trials=2)
    for t, screen_trial in zip(train_study.trials, best):
        assert t.state == TrialState.COMPLETE
        assert t.user_attrs["ntknas:screen_trial"] == screen_trial.number
        assert t.user_attrs["ntknas:screen_study"] == "screen"
        assert t.user_attrs["ntknas:arch"] == screen_trial.user_attrs["ntknas:arch"]
        assert sorted(t.intermediate_values) == [0, 1]  # per-epoch accuracy for pruners
        assert t.value == t.intermediate_values[1]


def test_training_objective_refuses_trials_not_enqueued(space):
    study = optuna.create_study(direction="maximize")
    objective = make_train_objective(space, synthetic(50), synthetic(20, split="test"), epochs=1)
    study.optimize(objective, n_trials=1, catch=(NotEnqueuedError,))
    assert study.trials[0].state == TrialState.FAIL


@pytest.mark.slow
def test_second_claim_of_the_same_architecture_is_refused(space, screened):
    train_study = optuna.create_study(direction="maximize")
    enqueue_top_k(screened, train_study, 1)
    # a racing worker popped a duplicate of the same enqueued architecture
    attrs = train_study.trials[0].user_attrs
    train_study.enqueue_trial({}, user_attrs=attrs)
    objective = make_train_objective(space, synthetic(50), synthetic(20, split="test"), epochs=1)
    train_study.optimize(objective, n_trials=2, catch=(NotEnqueuedError,))
    states = [t.state for t in train_study.trials]
    assert states == [TrialState.COMPLETE, TrialState.FAIL]


@pytest.mark.slow
def test_pruner_stops_bad_training(space, screened):
    train_study = optuna.create_study(
        direction="maximize", pruner=optuna.pruners.ThresholdPruner(lower=101.0)
    )
    enqueue_top_k(screened, train_study, 1)
    objective = make_train_objective(space, synthetic(50), synthetic(20, split="test"), epochs=3)
    train_study.optimize(objective, n_trials=1)
    assert train_study.trials[0].state == TrialState.PRUNED
    assert list(train_study.trials[0].intermediate_values) == [0]


def _fake_screen(study: optuna.Study, metrics: list[dict[str, float]]) -> None:
    """Completed screening trials with the attributes ntknas records (made-up metric values)."""
    for i, m in enumerate(metrics):
        attrs = {f"ntknas:{k}": v for k, v in m.items()}
        attrs.update({"ntknas:arch": f"arch{i}", "ntknas:hash": f"h{i}"})
        values = m["__values"] if "__values" in m else [m["running"]]
        study.add_trial(
            optuna.trial.create_trial(values=values, user_attrs=attrs)
            if len(values) > 1
            else optuna.trial.create_trial(value=values[0], user_attrs=attrs)
        )


def test_a_combined_score_trains_the_final_ranking_not_the_values_at_run_time():
    """With a combined score each trial's value is its rank among the trials before it: the
    first trial, ranked among one, scores the best possible value. The trained set must be the
    final ranking's top (which ranking.csv shows), not the best values at run time."""
    from ntknas.study import ranking_rows

    study = optuna.create_study(direction="maximize")
    study.set_user_attr("ntknas:objectives", ["ntk-agg-v4"])
    fd = [0.1, 0.9, 0.5, 0.8, 0.2, 0.7]  # feature decorrelation (maximize)
    bd = [0.2, 0.8, 0.6, 0.9, 0.1, 0.5]  # backward decorrelation (maximize)
    running = [0.0, 0.0, -0.7, -0.3, -2.4, -1.1]  # values at run time: trial 0 looks best
    _fake_screen(
        study,
        [
            {"feature_decorrelation": f, "backward_decorrelation": b, "running": r}
            for f, b, r in zip(fd, bd, running)
        ],
    )
    final_top = [r["trial"] for r in ranking_rows(study) if r["rank"] is not None][:2]
    assert final_top == [1, 3]
    assert [t.number for t in top_trials(study, 2)] == final_top
    train = optuna.create_study(direction="maximize")
    assert enqueue_top_k(study, train, 2) == final_top


def test_two_objectives_train_the_pareto_front_in_the_ranking_order():
    from ntknas.study import ranking_rows

    study = optuna.create_study(directions=["minimize", "minimize"])
    study.set_user_attr("ntknas:objectives", ["log_cond", "params"])
    # (log κ, params): trials 0, 2 and 3 are the Pareto front; trial 1 has the 2nd-best log κ
    points = [(1.0, 50.0), (1.5, 60.0), (3.0, 10.0), (2.0, 20.0), (5.0, 40.0)]
    _fake_screen(study, [{"log_cond": a, "params": b, "__values": [a, b]} for a, b in points])
    rows = [r for r in ranking_rows(study) if r["rank"] is not None]
    assert [r["trial"] for r in rows] == [0, 3, 2, 1, 4]
    assert [r["pareto"] for r in rows] == [True, True, True, False, False]
    assert [t.number for t in top_trials(study, 3)] == [0, 3, 2]
