"""Rank agreement between a training-free signal and accuracy: Kendall τ, Spearman ρ, bootstrap
intervals, top-k overlap and regret.

Signs: every correlation here is *signed by the metric's declared direction*, so a positive value
always means "the metric ranks architectures the way accuracy does": for a metric to minimize
(e.g. ``log_cond``) the raw correlation is negated.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
from scipy import stats


def _arrays(x: Sequence[float], y: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"expected two 1-D sequences of equal length, got {a.shape} and {b.shape}")
    keep = np.isfinite(a) & np.isfinite(b)
    return a[keep], b[keep]


def kendall_tau(x: Sequence[float], y: Sequence[float], *, sign: int = 1) -> float:
    """Kendall's τ-b (``scipy.stats.kendalltau``) of ``sign · x`` with ``y``; NaN pairs dropped.

    Example:
        >>> kendall_tau([1, 2, 3], [30, 20, 10], sign=-1)
        1.0
    """
    a, b = _arrays(x, y)
    if len(a) < 2:
        return float("nan")
    with warnings.catch_warnings():  # a constant input gives NaN, which is the honest answer
        warnings.simplefilter("ignore", stats.ConstantInputWarning)
        return float(stats.kendalltau(sign * a, b).statistic)


def spearman_rho(x: Sequence[float], y: Sequence[float], *, sign: int = 1) -> float:
    """Spearman's ρ (``scipy.stats.spearmanr``) of ``sign · x`` with ``y``; NaN pairs dropped."""
    a, b = _arrays(x, y)
    if len(a) < 2:
        return float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.ConstantInputWarning)
        return float(stats.spearmanr(sign * a, b).statistic)


def resampled_correlations(
    x: Sequence[float], y: Sequence[float], index: np.ndarray, *, statistic: str = "kendall_tau"
) -> np.ndarray:
    """τ-b or ρ of ``x[i]`` with ``y[i]`` for every row ``i`` of an (R, n) index array, computed
    for all rows at once (equal to :func:`kendall_tau` / :func:`spearman_rho` per row; NaN for a
    constant row).

    Example:
        >>> resampled_correlations([1, 2, 3], [1, 3, 2], np.array([[0, 1, 2], [0, 0, 1]])).round(3)
        array([0.333, 1.   ])
    """
    a, b = np.asarray(x, dtype=np.float64)[index], np.asarray(y, dtype=np.float64)[index]
    with np.errstate(invalid="ignore", divide="ignore"):
        if statistic == "spearman_rho":
            ra = stats.rankdata(a, axis=1)
            rb = stats.rankdata(b, axis=1)
            ra -= ra.mean(1, keepdims=True)
            rb -= rb.mean(1, keepdims=True)
            return (ra * rb).sum(1) / np.sqrt((ra * ra).sum(1) * (rb * rb).sum(1))
        if statistic != "kendall_tau":
            raise ValueError(
                f"statistic must be 'kendall_tau' or 'spearman_rho', not {statistic!r}"
            )
        n = a.shape[1]
        out = np.empty(a.shape[0])
        rows = max(1, 4_000_000 // max(1, n * n))  # pairwise sign matrices of bounded size
        for start in range(0, a.shape[0], rows):
            sa = np.sign(a[start : start + rows, :, None] - a[start : start + rows, None, :])
            sb = np.sign(b[start : start + rows, :, None] - b[start : start + rows, None, :])
            concordance = (sa * sb).sum((1, 2))
            ties = np.sqrt(np.abs(sa).sum((1, 2)) * np.abs(sb).sum((1, 2)))
            out[start : start + rows] = concordance / ties
        return out


def bootstrap_interval(
    x: Sequence[float],
    y: Sequence[float],
    *,
    statistic: str = "kendall_tau",
    sign: int = 1,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap interval of τ or ρ over resampled architectures.

    Example:
        >>> lo, hi = bootstrap_interval([1, 2, 3, 4, 5], [1, 2, 4, 3, 5], n_resamples=200)
        >>> -1.0 <= lo <= hi <= 1.0
        True
    """
    a, b = _arrays(x, y)
    if len(a) < 3:
        return float("nan"), float("nan")
    index = np.random.default_rng(seed).integers(0, len(a), (n_resamples, len(a)))
    values = resampled_correlations(sign * a, b, index, statistic=statistic)
    values = values[np.isfinite(values)]
    if not len(values):
        return float("nan"), float("nan")
    lo, hi = np.percentile(values, [(1 - confidence) / 2 * 100, (1 + confidence) / 2 * 100])
    return float(lo), float(hi)


def top_k_overlap(x: Sequence[float], y: Sequence[float], k: int, *, sign: int = 1) -> float:
    """Fraction of the metric's top-k architectures that are among the accuracy top-k."""
    a, b = _arrays(x, y)
    k = min(k, len(a))
    if k == 0:
        return float("nan")
    top_metric = set(np.argsort(-sign * a, kind="stable")[:k])
    top_acc = set(np.argsort(-b, kind="stable")[:k])
    return len(top_metric & top_acc) / k


def regret(x: Sequence[float], y: Sequence[float], *, sign: int = 1) -> float:
    """Best accuracy minus the accuracy of the architecture the metric ranks first."""
    a, b = _arrays(x, y)
    if len(a) == 0:
        return float("nan")
    chosen = int(np.argmax(sign * a))
    return float(b.max() - b[chosen])


def correlation_row(
    x: Sequence[float],
    y: Sequence[float],
    *,
    sign: int = 1,
    k: int = 10,
    bootstrap: int = 0,
    seed: int = 0,
) -> dict[str, float]:
    """τ, ρ, top-k overlap, regret (and bootstrap 95% intervals when ``bootstrap > 0``)."""
    row = {
        "kendall_tau": kendall_tau(x, y, sign=sign),
        "spearman_rho": spearman_rho(x, y, sign=sign),
        f"top{k}_overlap": top_k_overlap(x, y, k, sign=sign),
        "regret": regret(x, y, sign=sign),
        "n": int(len(_arrays(x, y)[0])),
    }
    if bootstrap:
        for name in ("kendall_tau", "spearman_rho"):
            lo, hi = bootstrap_interval(
                x, y, statistic=name, sign=sign, n_resamples=bootstrap, seed=seed
            )
            row[f"{name}_lo"], row[f"{name}_hi"] = lo, hi
    return row
