"""Spectral metrics of a kernel matrix, from one float64 eigendecomposition.

Metrics live in a registry: each is a function of the (ascending, non-negative) eigenvalues and
declares whether higher or lower is better, so that a new one plugs in by name::

    @register_metric("lambda_ratio_top2", direction="minimize")
    def _ratio(eigenvalues: np.ndarray) -> float:
        return float(eigenvalues[-1] / eigenvalues[-2])
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

DIRECTIONS = ("minimize", "maximize")


@dataclass(frozen=True)
class Metric:
    """A registered spectral metric: its name, function of the eigenvalues, and direction."""

    name: str
    fn: Callable[[np.ndarray], float]
    direction: str
    description: str = ""
    of: str = "eigenvalues"  # what ``fn`` receives: "eigenvalues" or "kernel" (the matrix)

    @property
    def sign(self) -> int:
        """+1 when higher is better, -1 when lower is better."""
        return 1 if self.direction == "maximize" else -1


_METRICS: dict[str, Metric] = {}


def register_metric(
    name: str, *, direction: str, description: str = "", of: str = "eigenvalues"
) -> Callable[[Callable[[np.ndarray], float]], Callable[[np.ndarray], float]]:
    """Register a metric of the eigenvalues under ``name`` (a duplicate name raises).

    The function receives the eigenvalues in ascending order as float64, clamped below at a tiny
    positive floor (so a division by λmin is finite), and returns a float. With
    ``of="kernel"`` it receives the symmetrized float64 kernel matrix instead (for metrics that
    are not functions of the spectrum alone, e.g. of a normalized kernel).

    Example:
        >>> @register_metric("example_top", direction="maximize")
        ... def _top(ev): return float(ev[-1])
        >>> "example_top" in list_metrics()
        True
        >>> unregister_metric("example_top")  # leave the registry as it was
    """
    if direction not in DIRECTIONS:
        raise ValueError(f"unknown direction {direction!r}; allowed: {', '.join(DIRECTIONS)}")
    if of not in ("eigenvalues", "kernel"):
        raise ValueError(f"unknown metric input {of!r}; allowed: eigenvalues, kernel")

    def decorator(fn: Callable[[np.ndarray], float]) -> Callable[[np.ndarray], float]:
        if name in _METRICS:
            raise ValueError(f"a metric named {name!r} is already registered")
        _METRICS[name] = Metric(name, fn, direction, description or (fn.__doc__ or "").strip(), of)
        return fn

    return decorator


def unregister_metric(name: str) -> None:
    """Remove a registered metric (tests and examples register temporary ones).

    Raises:
        KeyError: no metric of that name.
    """
    if name not in _METRICS:
        raise KeyError(f"no metric named {name!r} is registered")
    del _METRICS[name]


def list_metrics() -> list[str]:
    """Names of the registered metrics, in registration order."""
    return list(_METRICS)


def get_metric(name: str) -> Metric:
    """The registered metric ``name``; a ValueError lists the known names otherwise."""
    try:
        return _METRICS[name]
    except KeyError:
        raise ValueError(f"unknown metric {name!r}; known: {', '.join(_METRICS)}") from None


def _probabilities(ev: np.ndarray) -> np.ndarray:
    return ev / ev.sum()


@register_metric("cond", direction="minimize")
def _cond(ev: np.ndarray) -> float:
    """Condition number λmax / λmin (TE-NAS's κ)."""
    return float(ev[-1] / ev[0])


@register_metric("log_cond", direction="minimize")
def _log_cond(ev: np.ndarray) -> float:
    """Natural log of the condition number."""
    return float(math.log(ev[-1]) - math.log(ev[0]))


@register_metric("lambda_min", direction="maximize")
def _lambda_min(ev: np.ndarray) -> float:
    """Smallest eigenvalue."""
    return float(ev[0])


@register_metric("lambda_max", direction="maximize")
def _lambda_max(ev: np.ndarray) -> float:
    """Largest eigenvalue."""
    return float(ev[-1])


@register_metric("trace", direction="maximize")
def _trace(ev: np.ndarray) -> float:
    """Sum of the eigenvalues (the summed squared gradient norms)."""
    return float(ev.sum())


@register_metric("frobenius", direction="maximize")
def _frobenius(ev: np.ndarray) -> float:
    """Frobenius norm, sqrt(Σ λ²)."""
    return float(np.sqrt(np.sum(ev**2)))


@register_metric("spectral_entropy", direction="maximize")
def _spectral_entropy(ev: np.ndarray) -> float:
    """Shannon entropy (nats) of the normalized eigenvalues."""
    p = _probabilities(ev)
    p = p[p > 0]
    return float(-np.sum(p * np.log(p)))


@register_metric("effective_rank", direction="maximize")
def _effective_rank(ev: np.ndarray) -> float:
    """exp(spectral entropy) (Roy & Vetterli, 2007): between 1 and n."""
    return float(math.exp(_spectral_entropy(ev)))


@register_metric("stable_rank", direction="maximize")
def _stable_rank(ev: np.ndarray) -> float:
    """||K||_F² / ||K||_2²."""
    return float(np.sum(ev**2) / ev[-1] ** 2)


@register_metric("lambda_min_normalized", direction="maximize")
def _lambda_min_normalized(ev: np.ndarray) -> float:
    """λmin / mean eigenvalue (scale-free)."""
    return float(ev[0] / ev.mean())


def cosine_lambda_min(kernel: torch.Tensor | np.ndarray) -> float | torch.Tensor:
    """λmin of the cosine-normalized kernel D^-½ K D^-½ (unit diagonal) in float64, clamped to
    [0, 1]: how far the per-sample gradient directions are from linear dependence, whatever their
    lengths. A sample whose gradient is zero contributes a zero row and column (λmin = 0). A
    stack of kernels (L, B, B) gives a tensor of L values from one batched eigendecomposition.

    Example:
        >>> round(cosine_lambda_min(torch.eye(3) * 5.0), 6)
        1.0
    """
    K = torch.as_tensor(kernel).detach().to("cpu", torch.float64)
    d = torch.diagonal(K, dim1=-2, dim2=-1).clamp_min(0.0).sqrt()
    inv = torch.where(d > 0, 1.0 / d.clamp_min(1e-300), torch.zeros_like(d))
    cosine = K * inv[..., :, None] * inv[..., None, :]
    cosine = (cosine + cosine.transpose(-2, -1)) / 2
    values = torch.linalg.eigvalsh(cosine)[..., 0].clamp(0.0, 1.0)
    return float(values) if values.dim() == 0 else values


@register_metric("lambda_min_cosine", direction="maximize", of="kernel")
def _lambda_min_cosine(K: np.ndarray) -> float:
    """λmin of the cosine-normalized kernel (:func:`cosine_lambda_min`), 0 to 1."""
    return cosine_lambda_min(K)


class SpectrumResult(dict):
    """Metric name → value, plus ``degenerate`` (bool) and ``reason`` (str or None).

    It is a plain ``dict[str, float]`` for the metrics, so it serializes as one.
    """

    def __init__(
        self, metrics: dict[str, float], *, degenerate: bool = False, reason: str | None = None
    ) -> None:
        super().__init__(metrics)
        self.degenerate = degenerate
        self.reason = reason

    def __repr__(self) -> str:
        flag = f", degenerate: {self.reason}" if self.degenerate else ""
        return f"SpectrumResult({dict.__repr__(self)}{flag})"


def eigenvalues(K: torch.Tensor | np.ndarray) -> np.ndarray:
    """Eigenvalues of the symmetric part of K, ascending, computed in float64."""
    if isinstance(K, torch.Tensor):
        K = K.detach().to("cpu", torch.float64).numpy()
    K = np.asarray(K, dtype=np.float64)
    return np.linalg.eigvalsh((K + K.T) / 2)


def spectrum(
    K: torch.Tensor | np.ndarray, *, rtol: float | None = None, metrics: list[str] | None = None
) -> SpectrumResult:
    """Spectral metrics of a symmetric PSD kernel matrix.

    Args:
        K: a square matrix (torch or numpy). It is symmetrized and decomposed in float64.
        rtol: λmin at or below ``rtol · λmax`` flags the kernel degenerate (rank-deficient);
            default ``n · eps`` of the kernel's dtype (float32: n · 1.2e-7). λmin is then clamped to that floor, so every metric stays a
            finite number (``cond`` is bounded by 1/rtol).
        metrics: names to compute (default: all registered).

    Returns:
        A :class:`SpectrumResult`. A kernel with NaN/inf entries or an all-zero kernel has
        ``degenerate=True``, a ``reason``, and every metric NaN (never silently).

    Example:
        >>> r = spectrum(torch.diag(torch.tensor([1.0, 4.0])))
        >>> r["cond"], r.degenerate
        (4.0, False)
    """
    names = metrics if metrics is not None else list_metrics()
    chosen = [get_metric(n) for n in names]
    if isinstance(K, torch.Tensor):
        eps = torch.finfo(K.dtype).eps if K.is_floating_point() else np.finfo(np.float64).eps
        K = K.detach().to("cpu", torch.float64).numpy()
    else:
        K = np.asarray(K)
        eps = np.finfo(K.dtype).eps if np.issubdtype(K.dtype, np.floating) else 2.2e-16
    K = np.asarray(K, dtype=np.float64)
    if K.ndim != 2 or K.shape[0] != K.shape[1] or K.shape[0] == 0:
        raise ValueError(f"the kernel must be a non-empty square matrix, got shape {K.shape}")
    n = K.shape[0]
    nan = {m.name: float("nan") for m in chosen}
    bad = int(np.size(K) - np.isfinite(K).sum())
    if bad:
        return SpectrumResult(nan, degenerate=True, reason=f"kernel has {bad} non-finite entries")
    ev = eigenvalues(K)
    if not ev[-1] > 0:
        return SpectrumResult(nan, degenerate=True, reason="kernel is zero (no gradient signal)")
    tol = rtol if rtol is not None else n * float(eps)
    floor = tol * ev[-1]
    degenerate, reason = False, None
    if ev[0] <= floor:
        degenerate = True
        reason = f"lambda_min {ev[0]:.3g} <= {tol:.3g} * lambda_max (rank-deficient kernel)"
    clamped = np.maximum(ev, floor)
    symmetric = (K + K.T) / 2
    values = {m.name: m.fn(clamped if m.of == "eigenvalues" else symmetric) for m in chosen}
    return SpectrumResult(values, degenerate=degenerate, reason=reason)
