"""Infinite-width NNGP and NTK kernels of fully-connected networks, in closed form.

The layer recursion (Jacot et al. 2018; Lee et al. 2019), for inputs x, x' of dimension d::

    Σ¹(x, x') = σ_w² x·x'/d + σ_b²                    Θ¹ = Σ¹
    Σˡ⁺¹     = σ_w² E[φ(u) φ(u')] + σ_b²               Θˡ⁺¹ = σ_w² Θˡ E[φ'(u) φ'(u')] + Σˡ⁺¹

where (u, u') ~ N(0, [[Σˡ(x,x), Σˡ(x,x')], [Σˡ(x,x'), Σˡ(x',x')]]). ReLU and erf have closed
forms (arc-cosine and arcsine kernels); any other activation uses Gauss-Hermite quadrature. The
"standard" parameterization (Sohl-Dickstein et al. 2020) changes only the NTK:
Θˡ⁺¹ = n_l · Σ̂ˡ + σ_w² Θˡ Ė + [bias] where n_l is the layer's fan-in and Σ̂ˡ the post-activation
second moment — the conventions of neural-tangents' ``stax.Dense``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

CLOSED_FORM = ("relu", "erf")
QUADRATURE: dict[str, tuple[Callable[[np.ndarray], np.ndarray], Callable[[np.ndarray], np.ndarray]]]
QUADRATURE = {
    "tanh": (np.tanh, lambda u: 1.0 - np.tanh(u) ** 2),
    "gelu": (
        lambda u: 0.5 * u * (1.0 + _erf(u / math.sqrt(2.0))),
        lambda u: (
            0.5 * (1.0 + _erf(u / math.sqrt(2.0)))
            + u * np.exp(-0.5 * u**2) / math.sqrt(2.0 * math.pi)
        ),
    ),
    "sigmoid": (
        lambda u: 1.0 / (1.0 + np.exp(-u)),
        lambda u: np.exp(-u) / (1.0 + np.exp(-u)) ** 2,
    ),
    "identity": (lambda u: u, np.ones_like),
    "softplus": (lambda u: np.logaddexp(0.0, u), lambda u: 1.0 / (1.0 + np.exp(-u))),
}
ACTIVATIONS = CLOSED_FORM + tuple(QUADRATURE)
PARAMETERIZATIONS = ("ntk", "standard")


def check_names(activation: str, parameterization: str) -> None:
    """ValueError naming an unsupported activation or parameterization and the allowed ones."""
    if activation not in ACTIVATIONS:
        raise ValueError(
            f"unsupported activation {activation!r}; allowed: {', '.join(ACTIVATIONS)}"
        )
    if parameterization not in PARAMETERIZATIONS:
        raise ValueError(
            f"unknown parameterization {parameterization!r}; allowed: {', '.join(PARAMETERIZATIONS)}"
        )


def _erf(u: np.ndarray) -> np.ndarray:
    from scipy.special import erf

    return erf(u)


def _relu(k11: np.ndarray, k12: np.ndarray, k22: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    norms = np.sqrt(k11 * k22)
    cos = np.clip(k12 / np.where(norms > 0, norms, 1.0), -1.0, 1.0)
    theta = np.arccos(cos)
    value = norms * (np.sin(theta) + (math.pi - theta) * cos) / (2.0 * math.pi)
    derivative = (math.pi - theta) / (2.0 * math.pi)
    return value, derivative


def _erf_kernel(k11: np.ndarray, k12: np.ndarray, k22: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    denominator = (1.0 + 2.0 * k11) * (1.0 + 2.0 * k22)
    value = (2.0 / math.pi) * np.arcsin(np.clip(2.0 * k12 / np.sqrt(denominator), -1.0, 1.0))
    derivative = (4.0 / math.pi) / np.sqrt(denominator - 4.0 * k12**2)
    return value, derivative


def gaussian_expectations(
    phi: Callable[[np.ndarray], np.ndarray],
    dphi: Callable[[np.ndarray], np.ndarray],
    k11: np.ndarray,
    k12: np.ndarray,
    k22: np.ndarray,
    *,
    degree: int = 64,
) -> tuple[np.ndarray, np.ndarray]:
    """E[φ(u)φ(u')] and E[φ'(u)φ'(u')] for (u, u') ~ N(0, [[k11, k12], [k12, k22]]) by product
    Gauss-Hermite quadrature of ``degree`` points per dimension (exact for polynomials of degree
    < 2·degree; smooth activations converge fast, kinks such as ReLU's only slowly).

    Example:
        >>> v, d = gaussian_expectations(np.tanh, lambda u: 1 - np.tanh(u)**2,
        ...                              np.array([1.0]), np.array([0.0]), np.array([1.0]))
        >>> float(abs(v[0])) < 1e-12
        True
    """
    nodes, weights = np.polynomial.hermite_e.hermegauss(degree)
    weights = weights / weights.sum()
    z1 = nodes[:, None].ravel()[None, :, None]
    z2 = nodes[None, :].ravel()[None, None, :]
    w = (weights[:, None] * weights[None, :])[None]
    shape = np.shape(k12)
    a = np.broadcast_to(k11, shape).ravel()
    b = np.broadcast_to(k12, shape).ravel()
    c = np.broadcast_to(k22, shape).ravel()
    # Symmetric square root of [[a, b], [b, c]]: (C + sI) / t with s = sqrt(det C),
    # t = sqrt(a + c + 2s). Swapping (a, c) swaps u and v, so the kernel stays exactly symmetric.
    det = np.maximum(a * c - b * b, 0.0)
    root = np.sqrt(det)
    t = np.sqrt(np.maximum(a + c + 2.0 * root, 1e-300))
    r11, r12, r22 = (a + root) / t, b / t, (c + root) / t
    value = np.empty(a.shape)
    derivative = np.empty(a.shape)
    chunk = max(1, (1 << 22) // (degree * degree))
    for start in range(0, a.size, chunk):
        sl = slice(start, start + chunk)
        u = r11[sl, None, None] * z1 + r12[sl, None, None] * z2
        v = r12[sl, None, None] * z1 + r22[sl, None, None] * z2
        value[sl] = (phi(u) * phi(v) * w).sum(axis=(1, 2))
        derivative[sl] = (dphi(u) * dphi(v) * w).sum(axis=(1, 2))
    return value.reshape(shape), derivative.reshape(shape)


def _activation_moments(
    activation: str, k11: np.ndarray, k12: np.ndarray, k22: np.ndarray, degree: int
) -> tuple[np.ndarray, np.ndarray]:
    if activation == "relu":
        return _relu(k11, k12, k22)
    if activation == "erf":
        return _erf_kernel(k11, k12, k22)
    phi, dphi = QUADRATURE[activation]
    return gaussian_expectations(phi, dphi, k11, k12, k22, degree=degree)


def _as_float64(x: torch.Tensor | np.ndarray, name: str) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"{name} must be a 2-D (n, d) array of inputs, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError(f"{name} has non-finite entries")
    return x


def analytic_ntk(
    x1: torch.Tensor | np.ndarray,
    x2: torch.Tensor | np.ndarray | None = None,
    *,
    depth: int,
    activation: str = "relu",
    weight_var: float = 2.0,
    bias_var: float = 0.0,
    parameterization: str = "ntk",
    width: int | None = None,
    quadrature_degree: int = 64,
) -> tuple[torch.Tensor, torch.Tensor]:
    """NNGP and NTK kernels of an infinitely wide fully-connected network.

    The network is ``depth`` hidden layers ``Dense → activation`` and a scalar ``Dense``
    readout, as neural-tangents'
    ``stax.serial(*[Dense(w, W_std=√weight_var, b_std=√bias_var), act] * depth, Dense(1, ...))``.

    Args:
        x1: (n1, d) inputs.
        x2: (n2, d) inputs (default ``x1``).
        depth: number of hidden layers (>= 0).
        activation: ``relu`` or ``erf`` (closed forms), or one of ``tanh``, ``gelu``,
            ``sigmoid``, ``softplus``, ``identity`` (Gauss-Hermite quadrature).
        weight_var: σ_w² (> 0).
        bias_var: σ_b² (>= 0). With ``bias_var=0`` the network has no bias terms.
        parameterization: ``ntk`` or ``standard``; ``standard`` needs ``width``, the hidden
            width whose fan-in scales the NTK (neural-tangents' ``s=(1, 1)``).
        width: hidden width for the standard parameterization.
        quadrature_degree: Gauss-Hermite points per dimension for quadrature activations.

    Returns:
        ``(nngp, ntk)``, float64 tensors of shape (n1, n2).

    Raises:
        ValueError: an unsupported activation or parameterization, mismatched input
            dimensions, negative variances or depth.

    Example:
        >>> x = torch.randn(4, 3, dtype=torch.float64)
        >>> nngp, ntk = analytic_ntk(x, depth=2)
        >>> ntk.shape, bool((ntk - ntk.T).abs().max() < 1e-12)
        (torch.Size([4, 4]), True)
    """
    check_names(activation, parameterization)
    if not isinstance(depth, int) or depth < 0:
        raise ValueError(f"depth must be a non-negative integer (hidden layers), got {depth!r}")
    if not weight_var > 0:
        raise ValueError(f"weight_var must be positive, got {weight_var!r}")
    if not bias_var >= 0:
        raise ValueError(f"bias_var must be non-negative, got {bias_var!r}")
    if parameterization == "standard" and (not isinstance(width, int) or width < 1):
        raise ValueError("the standard parameterization needs width= (the hidden width), >= 1")
    a = _as_float64(x1, "x1")
    b = a if x2 is None else _as_float64(x2, "x2")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"input dimensions differ: x1 has {a.shape[1]}, x2 has {b.shape[1]}")
    d = a.shape[1]
    has_bias = bias_var > 0

    # Pre-affine second moments: input kernel x·x'/d, then post-activation moments.
    q12 = a @ b.T / d
    q11 = np.einsum("ij,ij->i", a, a)[:, None] / d
    q22 = np.einsum("ij,ij->i", b, b)[None, :] / d
    ntk12 = np.zeros_like(q12)
    fan_in = d
    for layer in range(depth + 1):
        s12 = weight_var * q12 + bias_var
        s11 = weight_var * q11 + bias_var
        s22 = weight_var * q22 + bias_var
        if parameterization == "ntk":
            ntk12 = s12 + weight_var * ntk12
        else:
            ntk12 = fan_in * q12 + weight_var * ntk12 + (1.0 if has_bias else 0.0)
        if layer == depth:
            return torch.from_numpy(s12.copy()), torch.from_numpy(ntk12.copy())
        full11, full22 = np.broadcast_to(s11, s12.shape), np.broadcast_to(s22, s12.shape)
        value12, derivative12 = _activation_moments(
            activation, full11, s12, full22, quadrature_degree
        )
        diag1, _ = _activation_moments(activation, s11, s11, s11, quadrature_degree)
        diag2, _ = _activation_moments(activation, s22, s22, s22, quadrature_degree)
        ntk12 = ntk12 * derivative12
        q12, q11, q22 = value12, diag1, diag2
        fan_in = width if width is not None else fan_in
    raise AssertionError("unreachable")
