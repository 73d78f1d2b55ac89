from __future__ import annotations

import optuna
import pytest

from ntknas.spectral import list_metrics
from ntknas.study import (
    SAMPLERS,
    Budget,
    DegenerateKernelError,
    ScoreCache,
    accounted_trials,
    create_sampler,
    make_objective,
    objective_directions,
    screen,
)

DISCONNECTED = "|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|skip_connect~2|"
CONV = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"


def test_objective_records_every_metric_and_budget(space, scorer):
    study = optuna.create_study(direction="minimize")
    study.enqueue_trial(space.trial_params(space.parse(CONV)))
    objective = make_objective(space, scorer, "log_cond", Budget(max_params=100_000))
    study.optimize(objective, n_trials=1)
    t = study.trials[0]
    assert t.state == optuna.trial.TrialState.COMPLETE
    for name in list_metrics():
        assert f"ntknas:{name}" in t.user_attrs
    assert t.value == pytest.approx(t.user_attrs["ntknas:log_cond"])
    assert t.user_attrs["ntknas:arch"] == CONV
    assert t.user_attrs["ntknas:hash"] == space.parse(CONV).hash
    params = t.user_attrs["ntknas:params"]
    assert t.constraints == {"params": float(params - 100_000)}


def test_degenerate_kernel_fails_the_trial_with_reason(space, scorer):
    study = optuna.create_study(direction="minimize")
    study.enqueue_trial(space.trial_params(space.parse(DISCONNECTED)))
    objective = make_objective(space, scorer, "log_cond")
    study.optimize(objective, n_trials=1, catch=(DegenerateKernelError,))
    t = study.trials[0]
    assert t.state == optuna.trial.TrialState.FAIL
    assert t.user_attrs["ntknas:degenerate"] is True
    assert "rank-deficient" in t.user_attrs["ntknas:reason"]


def test_a_scorer_without_needs_computes_what_the_objective_reads(space, scorer):
    from ntknas.combined_scores import DEFAULT_SCORE, metrics_needed
    from ntknas.scorer import NTKScorer

    assert scorer.needs is None and scorer.metric == DEFAULT_SCORE
    study = optuna.create_study(direction="maximize")
    for arch in (CONV, DISCONNECTED):
        study.enqueue_trial(space.trial_params(space.parse(arch)))
    study.optimize(make_objective(space, scorer), n_trials=2, catch=(DegenerateKernelError,))
    assert scorer.needs is None  # the scorer passed in is unchanged
    done, cut = study.trials
    # the default score reads no kernel: its components are recorded, the spectrum is not
    for name in metrics_needed([DEFAULT_SCORE]) - {"flops", "params"}:
        assert f"ntknas:{name}" in done.user_attrs, name
    assert "ntknas:log_cond" not in done.user_attrs
    explicit = NTKScorer(batch_size=8, needs=[DEFAULT_SCORE]).score(space, CONV)
    for name, value in explicit.metrics.items():
        assert done.user_attrs[f"ntknas:{name}"] == value, name
    # a cell whose output ignores its input still fails, with the reason the probe pass gives
    assert cut.state == optuna.trial.TrialState.FAIL
    assert "do not depend on the input" in cut.user_attrs["ntknas:reason"]


def test_cache_scores_each_architecture_once(space, scorer):
    cache = ScoreCache()
    study = optuna.create_study(direction="minimize")
    for _ in range(3):
        study.enqueue_trial(space.trial_params(space.parse(CONV)))
    study.optimize(make_objective(space, scorer, cache=cache), n_trials=3)
    assert cache.misses == 1 and cache.hits == 2
    assert [t.user_attrs["ntknas:cached"] for t in study.trials] == [False, True, True]
    assert len({t.value for t in study.trials}) == 1
    warm = ScoreCache()
    assert warm.warm(study) == 1 and space.parse(CONV).hash in warm


@pytest.mark.slow
@pytest.mark.parametrize("sampler", SAMPLERS)
def test_batched_screening_with_every_sampler(space, scorer, sampler):
    objectives = ["log_cond", "params"] if sampler == "nsga2" else ["log_cond"]
    study = optuna.create_study(
        directions=objective_directions(objectives), sampler=create_sampler(sampler, seed=0)
    )
    done = screen(study, space, scorer, n_trials=10, batch=4, objectives=objectives)
    assert done == 10 == len(study.trials) == accounted_trials(study)
    states = {t.state for t in study.trials}
    assert states <= {optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.FAIL}
    for t in study.trials:
        if t.state == optuna.trial.TrialState.FAIL:
            assert t.user_attrs["ntknas:fail_reason"]
        else:
            assert len(t.values) == len(objectives)


def test_screen_records_failures_and_goes_on(space, scorer, monkeypatch):
    calls = {"n": 0}
    original = scorer.score

    def flaky(sp, spec):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return original(sp, spec)

    monkeypatch.setattr(scorer, "score", flaky)
    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.RandomSampler(seed=1))
    screen(study, space, scorer, n_trials=4, batch=2)
    failed = [t for t in study.trials if t.state == optuna.trial.TrialState.FAIL]
    assert any(t.user_attrs["ntknas:fail_reason"].startswith("out of memory") for t in failed)
    assert len(study.trials) == 4


@pytest.mark.usefixtures("legacy_scores")
@pytest.mark.slow
def test_combined_score_objective_ranks_the_population(space):
    """ntk-agg-v1 needs kernel regression and NASWOT; each trial's value is its rank-aggregate
    among the architectures scored so far, and the report re-ranks the final population."""
    from ntknas.combined_scores import aggregate
    from ntknas.scorer import NTKScorer
    from ntknas.study import ranking_rows
    from ntknas.study._objective import score_row

    scorer = NTKScorer(batch_size=8, heldout=8, proxies=True, metric="ntk-agg-v1")
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0))
    study.set_user_attr("ntknas:objectives", ["ntk-agg-v1"])
    objective = make_objective(space, scorer, "ntk-agg-v1")
    study.optimize(objective, n_trials=6, catch=(DegenerateKernelError,))
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(done) >= 3
    first = done[0]
    assert first.value == pytest.approx(0.0)  # alone in its population: best in every component
    for t in done:
        for name in ("krr_loss", "krr_accuracy", "naswot", "log_cond"):
            assert t.user_attrs[f"ntknas:{name}"] is not None
        assert t.value <= 0.0
    rows = [r for r in ranking_rows(study) if r["rank"] is not None]
    results = {r.hash: r for r in objective.cache.results()}
    population = [score_row(results[r["hash"]]) for r in rows]
    assert [r["score"] for r in rows] == pytest.approx(list(aggregate(population, "ntk-agg-v1")))
    assert [r["score"] for r in rows] == sorted((r["score"] for r in rows), reverse=True)
    assert "naswot" in rows[0] and "krr_loss" in rows[0]


def test_unknown_objective_is_refused(space, scorer):
    with pytest.raises(ValueError, match="unknown objective 'nope'"):
        make_objective(space, scorer, "nope")


@pytest.mark.usefixtures("legacy_scores")
@pytest.mark.parametrize(
    "settings, objective, message",
    [
        ({"proxies": False}, "ntk-agg-v4", "'ntk-agg-v4' needs backward_decorrelation: .*proxies"),
        ({"proxies": True}, "ntk-agg-v2", "'ntk-agg-v2' needs krr_loss: .*heldout > 0"),
        ({"proxies": False}, "feature_decorrelation", "needs feature_decorrelation: .*proxies"),
        ({"kernel": "full"}, "layer_lambda_min_cosine", "kernel 'sum' or 'trace'"),
    ],
)
def test_a_scorer_that_cannot_compute_the_objective_is_refused_up_front(
    space, settings, objective, message
):
    """Otherwise every architecture would lack the component and tie at the worst rank."""
    from ntknas.scorer import NTKScorer
    from ntknas.study import screen

    scorer = NTKScorer(batch_size=8, **settings)
    with pytest.raises(ValueError, match=message):
        make_objective(space, scorer, objective)
    study = optuna.create_study(direction="maximize")
    with pytest.raises(ValueError, match=message):
        screen(study, space, scorer, n_trials=1, objectives=[objective])
    assert not study.trials
