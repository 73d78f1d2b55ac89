from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import rankdata

from ntknas.combined_scores import (
    DEFAULT_SCORE,
    ScoreRule,
    aggregate,
    component_ranks,
    get_score,
    list_scores,
    register_score,
)


@pytest.mark.parametrize("name", list_scores())
def test_registered_rules_are_well_formed(name):
    rule = get_score(name)
    assert rule.components and rule.description
    assert set(rule.components.values()) <= {"maximize", "minimize"}


@pytest.mark.usefixtures("legacy_scores")
def test_default_score_is_ntk_based():
    rule = get_score(DEFAULT_SCORE)
    assert "backward_group_all_decorrelation" in rule.components  # the NTK's back-propagated factor
    assert "krr_loss" in get_score("ntk-only-v1").components
    for name in ("ntk-only-v1", "ntk-only-v2", "ntk-only-v3", "ntk-only-v4", "ntk-only-v6"):
        forbidden = {
            "naswot",
            "feature_decorrelation",
            "feature_group_decorrelation",
            "synflow",
            "flops",
            "params",
        }
        assert not forbidden & set(get_score(name).components), name
    assert "layer_lambda_min_cosine" in get_score("ntk-only-v2").components


def test_aggregate_is_sum_of_log_rank_fractions():
    rng = np.random.default_rng(0)
    rows = [{"a": float(rng.normal()), "b": float(rng.normal())} for _ in range(20)]
    rule = ScoreRule("tmp-ab", {"a": "maximize", "b": "minimize"})
    a = np.array([r["a"] for r in rows])
    b = np.array([r["b"] for r in rows])
    expected = np.log(rankdata(a) / 20) + np.log(rankdata(-b) / 20)
    assert np.allclose(aggregate(rows, rule), expected)
    # The best in every component scores 0 (log 1), the maximum possible.
    best = aggregate(rows + [{"a": 99.0, "b": -99.0}], rule)
    assert best[-1] == pytest.approx(0.0) and best.argmax() == 20


def test_missing_and_nan_components_rank_worst():
    rule = ScoreRule("tmp-c", {"c": "minimize"})
    assert component_ranks([1.0, float("nan"), 3.0], "minimize").tolist() == [3.0, 1.0, 2.0]
    assert component_ranks([-math.inf, 2.0, float("nan")], "maximize").tolist() == [1.5, 3.0, 1.5]
    s = aggregate([{"c": 1.0}, {}, {"c": 2.0}], rule)
    assert s.argmin() == 1 and s.argmax() == 0


def test_registry_rejects_duplicates_and_bad_directions():
    with pytest.raises(ValueError, match="already registered"):
        register_score(ScoreRule(DEFAULT_SCORE, {"log_cond": "minimize"}))
    with pytest.raises(ValueError, match="direction"):
        register_score(ScoreRule("tmp-bad", {"x": "up"}))
    with pytest.raises(ValueError, match="unknown score"):
        get_score("nope")
