"""NTK theory made usable: analytic infinite-width kernels and kernel regression.

Example:
    >>> import torch
    >>> from ntknas.theory import analytic_ntk, kernel_ridge
    >>> x = torch.randn(8, 3, dtype=torch.float64)
    >>> nngp, ntk = analytic_ntk(x, depth=2)
    >>> kernel_ridge(ntk, x[:, 0], ridge=1e-3).shape
    torch.Size([8])
"""

from __future__ import annotations

from ntknas.theory.analytic import (
    ACTIVATIONS,
    PARAMETERIZATIONS,
    analytic_ntk,
    gaussian_expectations,
)
from ntknas.theory.kernel_regression import (
    Approximation,
    kernel_ridge,
    linearized_prediction,
    nystrom_ridge,
    random_features_ridge,
    relu_random_features,
    ridgeless,
    stable_learning_rate,
)

__all__ = [
    "ACTIVATIONS",
    "PARAMETERIZATIONS",
    "Approximation",
    "analytic_ntk",
    "gaussian_expectations",
    "kernel_ridge",
    "linearized_prediction",
    "nystrom_ridge",
    "random_features_ridge",
    "relu_random_features",
    "ridgeless",
    "stable_learning_rate",
]
