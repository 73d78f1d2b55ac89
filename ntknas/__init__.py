"""ntknas: training-free neural architecture search from the empirical Neural Tangent Kernel.

Example:
    >>> import torch, ntknas
    >>> net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    >>> K = ntknas.empirical_ntk(net, torch.randn(6, 4))
    >>> sorted(ntknas.spectrum(K))[:2]
    ['cond', 'effective_rank']
    >>> ntknas.NTKScorer().metric  # scores architectures; the package's default score
    'ntk-agg-v7'
"""

from __future__ import annotations

from ntknas.ntk import empirical_ntk, layerwise_ntk
from ntknas.spectral import (
    SpectrumResult,
    get_metric,
    list_metrics,
    register_metric,
    spectrum,
    unregister_metric,
)

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    """``ntknas.NTKScorer`` and ``ntknas.DEFAULT_SCORE``, imported on first use (the scorer
    pulls in the search spaces and SciPy, which ``ntknas --help`` does not need)."""
    if name == "NTKScorer":
        from ntknas.scorer import NTKScorer

        return NTKScorer
    if name == "DEFAULT_SCORE":
        from ntknas.combined_scores import DEFAULT_SCORE

        return DEFAULT_SCORE
    raise AttributeError(f"module 'ntknas' has no attribute {name!r}")


__all__ = [
    "DEFAULT_SCORE",
    "NTKScorer",
    "SpectrumResult",
    "__version__",
    "empirical_ntk",
    "layerwise_ntk",
    "get_metric",
    "list_metrics",
    "register_metric",
    "spectrum",
    "unregister_metric",
]
