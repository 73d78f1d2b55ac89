"""The effective dimension of a layer's channels: how many independent directions their
correlation spreads over (the participation ratio of its eigenvalues), defined for any ratio
of channels to observations."""

from __future__ import annotations

import math

import torch


def log_participation_ratio(feats: torch.Tensor) -> float:
    """log of the participation ratio (Σλ)² / Σλ² of the Pearson correlation of the rows of
    ``feats`` (channels × observations): the Rényi-2 entropy of its eigenvalue spectrum, 0 when
    every channel is a multiple of one (one direction), log C for C uncorrelated channels.

    Constant rows are left out (a dead channel adds no direction); with fewer than one varying
    row, or fewer than 2 observations, the result is 0. The eigenvalues are never computed:
    Σλ = tr R is the number of varying channels and Σλ² = ‖R‖²_F, which the Gram matrix of the
    smaller side gives (the same non-zero spectrum), so a layer with more channels than
    observations is read exactly, as a narrow one is. Centring and normalizing are in float64;
    the Gram matrix in the input's precision.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> independent = torch.randn(16, 4096, generator=g, dtype=torch.float64)
        >>> round(math.exp(log_participation_ratio(independent)), 1)  # ~16 directions
        15.9
        >>> copies = independent[:1].repeat(16, 1) * torch.arange(1.0, 17).view(16, 1)
        >>> round(log_participation_ratio(copies), 12)  # one direction
        0.0
    """
    if feats.shape[0] == 0 or feats.shape[-1] < 2:
        return 0.0
    x = feats.to(torch.float64)
    x = x - x.mean(dim=-1, keepdim=True)
    norms = x.norm(dim=-1)
    varying = norms > norms.max() * 1e-12
    x = x[varying] / norms[varying].unsqueeze(-1)
    channels, observations = x.shape
    if channels == 0:
        return 0.0
    x = x.to(feats.dtype)
    gram = x @ x.T if channels <= observations else x.T @ x
    frobenius = float(gram.to(torch.float64).square().sum())
    # a single direction gives frobenius = channels² up to rounding: clamp the log at 0
    return max(0.0, math.log(channels * channels / frobenius))


def effective_dimension(u: torch.Tensor, samples: int) -> float:
    """:func:`log_participation_ratio` of a layer's channels over the first ``samples`` images'
    positions pooled ((B, C, *spatial): C channels; (B, N, D) tokens: D features over the
    tokens; (B, D): D features over the whole batch).

    Example:
        >>> u = torch.randn(8, 64, 4, 4, generator=torch.Generator().manual_seed(1))
        >>> 3.0 < effective_dimension(u, 8) < math.log(64)  # 64 channels over 128 positions
        True
    """
    if u.dim() == 2:
        return log_participation_ratio(u.T)
    first = u[:samples]
    if u.dim() == 3:
        return log_participation_ratio(first.reshape(-1, u.shape[-1]).T)
    return log_participation_ratio(first.transpose(0, 1).reshape(u.shape[1], -1))
