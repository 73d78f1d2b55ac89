from __future__ import annotations

import math

import pytest
from scipy import stats

from ntknas.correlate import (
    bootstrap_interval,
    correlation_row,
    kendall_tau,
    regret,
    spearman_rho,
    top_k_overlap,
)


def test_signed_correlations_match_scipy():
    x = [3.0, 1.0, 4.0, 1.5, 5.0, 9.0, 2.0]
    y = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]
    assert kendall_tau(x, y) == pytest.approx(stats.kendalltau(x, y).statistic)
    assert kendall_tau(x, y, sign=-1) == pytest.approx(-stats.kendalltau(x, y).statistic)
    assert spearman_rho(x, y) == pytest.approx(stats.spearmanr(x, y).statistic)


def test_nan_pairs_dropped_and_constant_input_is_nan():
    assert kendall_tau([1, float("nan"), 3], [1, 2, 3]) == pytest.approx(1.0)
    assert math.isnan(spearman_rho([1, 1, 1], [1, 2, 3]))


def test_overlap_regret_bootstrap():
    x = [1, 2, 3, 4, 5]
    y = [10, 20, 30, 50, 40]
    assert top_k_overlap(x, y, 2) == 1.0
    assert top_k_overlap(x, y, 3, sign=-1) == pytest.approx(1 / 3)
    assert regret(x, y) == 10  # metric picks index 4 (acc 40), best is 50
    assert regret(x, y, sign=-1) == 40
    lo, hi = bootstrap_interval(x, y, n_resamples=200)
    assert -1 <= lo <= hi <= 1
    row = correlation_row(x, y, k=2, bootstrap=100)
    assert {"kendall_tau", "spearman_rho", "top2_overlap", "regret", "kendall_tau_lo", "n"} <= set(
        row
    )
