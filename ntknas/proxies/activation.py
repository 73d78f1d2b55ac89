"""Activation-pattern expressivity: NASWOT (Mellor et al. 2021), the log-determinant of the
Hamming-similarity kernel of the rectifiers' on/off patterns."""

from __future__ import annotations

import math

import torch
from torch import nn

from ntknas.ntk import OutputSelector
from ntknas.proxies._pass import _rectifier_pass


def activation_codes(
    model: nn.Module, x: torch.Tensor, *, output: OutputSelector = None
) -> torch.Tensor:
    """Binary activation patterns (B, units): 1 where a rectifier's input is positive.

    One no-grad forward in train mode (BatchNorm on batch statistics, as in the NTK's
    ``bn="frozen"``); the model's flags and running statistics are restored. Dropout is
    disabled for the pass.

    Example:
        >>> net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
        >>> activation_codes(net, torch.randn(5, 4)).shape
        torch.Size([5, 8])
    """
    codes: list[torch.Tensor] = []
    _rectifier_pass(
        model, x, lambda u: codes.append((u > 0).reshape(u.shape[0], -1)), output=output
    )
    if not codes:
        return torch.zeros(x.shape[0], 0, dtype=torch.bool, device=x.device)
    return torch.cat([c.to(x.device) for c in codes], dim=1)


def _add_agreement(total: torch.Tensor, u: torch.Tensor) -> None:
    """total += one rectifier's agreements (units + s sᵀ) / 2, s = ±1 its sign pattern."""
    signs = (u.reshape(u.shape[0], -1) > 0).to(torch.float32) * 2 - 1
    gram = signs @ signs.T  # exact: |entries| <= units < 2**24 per layer
    total.add_((gram.to(torch.float64) + signs.shape[1]) / 2)


def activation_agreement(
    model: nn.Module, x: torch.Tensor, *, output: OutputSelector = None
) -> torch.Tensor:
    """NASWOT's Hamming-similarity kernel K_H (B, B), float64, accumulated rectifier by rectifier.

    Equal to ``c cᵀ + (1−c)(1−c)ᵀ`` of :func:`activation_codes` but never holds the
    (B, units) pattern matrix: each rectifier adds ``(units_l + s_l s_lᵀ) / 2`` with
    s_l = ±1 its sign pattern, so memory is one layer's activations.

    Example:
        >>> net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
        >>> x = torch.randn(5, 4)
        >>> c = activation_codes(net, x).double()
        >>> torch.allclose(activation_agreement(net, x), c @ c.T + (1 - c) @ (1 - c).T)
        True
    """
    b = x.shape[0]
    total = torch.zeros(b, b, dtype=torch.float64, device=x.device)

    _rectifier_pass(model, x, lambda u: _add_agreement(total, u), output=output)
    return total


def naswot_from_kernel(k: torch.Tensor) -> float:
    """log|K_H| of an agreement kernel; ``-inf`` when singular."""
    sign, logdet = torch.linalg.slogdet(k.detach().to("cpu", torch.float64))
    return float(logdet) if float(sign) > 0 else -math.inf


def naswot(codes: torch.Tensor) -> float:
    """log|K_H| where K_H[i, j] = units on which patterns i and j agree (NASWOT's score).

    Identical patterns make K_H singular: the result is then ``-inf`` (the architecture cannot
    tell those probe images apart).

    Example:
        >>> naswot(torch.tensor([[1, 0], [0, 1]], dtype=torch.bool))
        1.3862943611198906
    """
    units = codes.shape[1]
    signs = codes.to(torch.float32) * 2 - 1  # agreements = (units + s·s') / 2, exact below 2**24
    if units >= 1 << 24:
        signs = signs.to(torch.float64)
    k = ((signs @ signs.T).to(torch.float64) + units) / 2
    sign, logdet = torch.linalg.slogdet(k.cpu())
    return float(logdet) if float(sign) > 0 else -math.inf
