"""Finite-width fully-connected networks whose infinite-width limit is :func:`analytic_ntk`."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from ntknas.theory.analytic import check_names

TORCH_ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "relu": torch.relu,
    "erf": torch.erf,
    "tanh": torch.tanh,
    "gelu": torch.nn.functional.gelu,
    "sigmoid": torch.sigmoid,
    "softplus": torch.nn.functional.softplus,
    "identity": lambda u: u,
}


class Dense(nn.Module):
    """A dense layer in the NTK or the standard parameterization (neural-tangents' conventions).

    ``ntk``: W, b ~ N(0, 1), z = σ_w/√n · W x + σ_b · b. ``standard``: W ~ N(0, σ_w²/n),
    b ~ N(0, σ_b²), z = W x + b. The two compute the same function at initialization; their
    parameter gradients — and so their NTKs — differ.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        weight_var: float,
        bias_var: float,
        parameterization: str,
    ) -> None:
        super().__init__()
        self.parameterization = parameterization
        self.w_scale = math.sqrt(weight_var / in_features)
        self.b_scale = math.sqrt(bias_var)
        self.weight = nn.Parameter(torch.randn(out_features, in_features))
        self.bias = nn.Parameter(torch.randn(out_features)) if bias_var > 0 else None
        if parameterization == "standard":
            with torch.no_grad():
                self.weight.mul_(self.w_scale)
                if self.bias is not None:
                    self.bias.mul_(self.b_scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.parameterization == "ntk":
            out = x @ self.weight.T * self.w_scale
            return out if self.bias is None else out + self.b_scale * self.bias
        out = x @ self.weight.T
        return out if self.bias is None else out + self.bias


class Activation(nn.Module):
    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name
        self.fn = TORCH_ACTIVATIONS[name]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x)


def mlp(
    in_features: int,
    width: int,
    depth: int,
    *,
    activation: str = "relu",
    weight_var: float = 2.0,
    bias_var: float = 0.0,
    parameterization: str = "ntk",
    out_features: int = 1,
) -> nn.Sequential:
    """``depth`` hidden layers of ``width`` and a readout, matching :func:`analytic_ntk`.

    Example:
        >>> net = mlp(3, 64, 2)
        >>> net(torch.randn(5, 3)).shape
        torch.Size([5, 1])
    """
    check_names(activation, parameterization)
    kw = {"weight_var": weight_var, "bias_var": bias_var, "parameterization": parameterization}
    layers: list[nn.Module] = []
    fan_in = in_features
    for _ in range(depth):
        layers += [Dense(fan_in, width, **kw), Activation(activation)]
        fan_in = width
    layers.append(Dense(fan_in, out_features, **kw))
    return nn.Sequential(*layers)
