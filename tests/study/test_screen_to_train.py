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


def test_pruner_stops_bad_training(space, screened):
    train_study = optuna.create_study(
        direction="maximize", pruner=optuna.pruners.ThresholdPruner(lower=101.0)
    )
    enqueue_top_k(screened, train_study, 1)
    objective = make_train_objective(space, synthetic(50), synthetic(20, split="test"), epochs=3)
    train_study.optimize(objective, n_trials=1)
    assert train_study.trials[0].state == TrialState.PRUNED
    assert list(train_study.trials[0].intermediate_values) == [0]
