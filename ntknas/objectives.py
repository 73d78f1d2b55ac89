"""Objective names and their directions: spectral metrics, probe signals, combined scores,
costs. Built on the metric, proxy and score registries (which do not import this module)."""

from __future__ import annotations

from ntknas.proxies import PROXY_DIRECTIONS, PROXY_METRICS
from ntknas.score import list_scores
from ntknas.spectrum import get_metric, list_metrics


def metric_direction(name: str) -> str:
    """``"minimize"`` or ``"maximize"`` for an objective: a spectral metric, a non-spectral
    proxy (``naswot``, ``krr_loss``, ...), a combined score (always maximized), or a cost
    (``params``, ``flops``: minimized, as budget-like objectives).

    Example:
        >>> metric_direction("log_cond"), metric_direction("ntk-agg-v4")
        ('minimize', 'maximize')
    """
    if name in ("params", "flops"):
        return "minimize"
    if name in list_scores():
        return "maximize"
    if name in PROXY_DIRECTIONS:
        return PROXY_DIRECTIONS[name]
    return get_metric(name).direction


def objective_names() -> list[str]:
    """Every name :func:`metric_direction` knows: spectral metrics, proxies, scores, costs."""
    return list_scores() + list_metrics() + list(PROXY_METRICS) + ["params", "flops"]
