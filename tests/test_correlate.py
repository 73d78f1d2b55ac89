from __future__ import annotations

import math

import numpy as np
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


@pytest.mark.parametrize("statistic", ("kendall_tau", "spearman_rho"))
def test_resampled_correlations_equal_scipy_per_resample(statistic):
    from ntknas.correlate import resampled_correlations

    rng = np.random.default_rng(1)
    x = rng.integers(0, 6, 15).astype(float)  # ties, and more in every resample
    y = rng.normal(size=15)
    index = rng.integers(0, 15, (300, 15))
    index[0] = 0  # a constant resample: NaN, as scipy says
    fn = kendall_tau if statistic == "kendall_tau" else spearman_rho
    expected = np.array([fn(x[i], y[i]) for i in index])
    got = resampled_correlations(x, y, index, statistic=statistic)
    assert np.isnan(got[0]) and np.isnan(expected[0])
    np.testing.assert_allclose(got[1:], expected[1:], rtol=1e-12, atol=1e-12)
