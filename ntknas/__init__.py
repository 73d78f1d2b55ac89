"""ntknas: training-free neural architecture search from the empirical Neural Tangent Kernel.

Example:
    >>> import torch, ntknas
    >>> net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    >>> K = ntknas.empirical_ntk(net, torch.randn(6, 4))
    >>> sorted(ntknas.spectrum(K))[:2]
    ['cond', 'effective_rank']
"""

from __future__ import annotations

from ntknas.ntk import empirical_ntk, layerwise_ntk
from ntknas.spectrum import (
    SpectrumResult,
    get_metric,
    list_metrics,
    register_metric,
    spectrum,
    unregister_metric,
)

__version__ = "0.1.0"

__all__ = [
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
