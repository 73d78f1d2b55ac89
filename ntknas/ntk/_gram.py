"""Gram accumulation of per-sample Jacobians (float64 over float32 chunks), shared by the
Jacobian implementations of ``_engine`` and the per-layer hooks of ``_hooks``."""

from __future__ import annotations

import torch


def _forward_error(x: torch.Tensor, error: Exception) -> ValueError:
    first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return ValueError(f"input of shape {tuple(x.shape)} does not fit the model: {first}")


#: Jacobian columns per float32 product in the Gram; the partial products add up in float64.
GRAM_CHUNK = 8192


def gram_dtype(dtype: torch.dtype) -> torch.dtype:
    """The accumulator of Θ: float64 for any floating input (sums over P ~ 10⁶ parameters lose
    ~1e-4 relative in float32, enough to move λmin of an ill-conditioned kernel)."""
    return torch.float64 if dtype != torch.float64 else dtype


def _gram_update(theta: torch.Tensor, jac: torch.Tensor, kernel: str) -> None:
    """theta += J Jᵀ for one group slice ``jac`` of shape (B, R, P_g): products of at most
    :data:`GRAM_CHUNK` columns in the Jacobian's dtype, accumulated in theta's (float64)."""
    b, r, p = jac.shape
    for start in range(0, p, GRAM_CHUNK):
        part = jac[:, :, start : start + GRAM_CHUNK]
        if kernel == "full":
            flat = part.reshape(b * r, -1)
            theta.add_((flat @ flat.T).to(theta.dtype))
        elif r == 1:
            flat = part[:, 0]
            theta.add_((flat @ flat.T).to(theta.dtype))
        else:  # trace: Σ_c J_c J_cᵀ
            theta.add_(torch.einsum("bcp,dcp->bd", part, part).to(theta.dtype))
