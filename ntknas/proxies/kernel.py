"""Signals read from the empirical NTK itself: kernel ridge regression on held-out images, label
alignment, and λmin of each weight layer's cosine-normalized kernel."""

from __future__ import annotations

import torch
from torch import nn

from ntknas.proxies._pass import WEIGHT_LAYERS
from ntknas.spectral import cosine_lambda_min
from ntknas.theory.kernel_regression import kernel_ridge


def one_hot_targets(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Centered one-hot targets: 1 − 1/C for the class, −1/C elsewhere."""
    y = torch.nn.functional.one_hot(labels.long().cpu(), num_classes).to(torch.float64)
    return y - 1.0 / num_classes


def krr_metrics(
    kernel: torch.Tensor,
    labels: torch.Tensor,
    n_fit: int,
    *,
    num_classes: int | None = None,
    ridge: float = 1e-2,
) -> dict[str, float]:
    """Kernel ridge regression with an empirical NTK: fit the first ``n_fit`` probe images,
    predict the rest.

    The kernel is the (n_fit + n_held)² Gram matrix of one scalar-output NTK (the sum kernel),
    used for every class as in the infinite-width limit (Θ ⊗ I_C). Targets are centered one-hot
    vectors, ``ridge`` is relative to the mean eigenvalue of the fit block (so kernels of any
    scale are treated alike).

    Returns:
        ``krr_accuracy`` (held-out top-1, higher is better) and ``krr_loss`` (held-out mean
        squared error per image, lower is better); NaN when the kernel has non-finite entries.

    Example:
        >>> x = torch.randn(12, 5, dtype=torch.float64)
        >>> labels = torch.tensor([0, 1] * 6)
        >>> sorted(krr_metrics(x @ x.T, labels, 8))
        ['krr_accuracy', 'krr_loss']
    """
    K = kernel.detach().to("cpu", torch.float64)
    n = K.shape[0]
    if not 0 < n_fit < n:
        raise ValueError(f"n_fit must be in [1, {n - 1}] for a {n}x{n} kernel, got {n_fit}")
    if not torch.isfinite(K).all():
        return {"krr_accuracy": float("nan"), "krr_loss": float("nan")}
    classes = num_classes or int(labels.max()) + 1
    y = one_hot_targets(labels, classes)
    pred = kernel_ridge(K[:n_fit, :n_fit], y[:n_fit], K[n_fit:, :n_fit], ridge=ridge)
    held = labels[n_fit:].cpu()
    accuracy = float((pred.argmax(dim=1) == held).to(torch.float64).mean())
    loss = float(((pred - y[n_fit:]) ** 2).sum(dim=1).mean())
    return {"krr_accuracy": accuracy, "krr_loss": loss}


def kernel_target_alignment(
    kernel: torch.Tensor, labels: torch.Tensor, num_classes: int | None = None
) -> float:
    """<K, Y Yᵀ>_F / (‖K‖_F ‖Y Yᵀ‖_F) with centered one-hot Y (Cristianini et al. 2002).

    Example:
        >>> labels = torch.tensor([0, 0, 1, 1])
        >>> y = one_hot_targets(labels, 2)
        >>> round(kernel_target_alignment(y @ y.T, labels), 6)
        1.0
    """
    K = kernel.detach().to("cpu", torch.float64)
    y = one_hot_targets(labels, num_classes or int(labels.max()) + 1)
    target = y @ y.T
    denominator = torch.linalg.norm(K) * torch.linalg.norm(target)
    return float((K * target).sum() / denominator) if denominator > 0 else float("nan")


def layer_gradient_decorrelation(
    layers: dict[str, torch.Tensor], model: nn.Module, size: int | None = None
) -> float:
    """Σ over weight layers of λmin of the layer's cosine-normalized NTK (``layer_lambda_min_cosine``).

    Θ = Σ_l Θ_l: each weight layer's own NTK Θ_l = J_l J_lᵀ (:func:`ntknas.layerwise_ntk`) is
    normalized to unit diagonal, so it measures only how far the per-sample gradients *of that
    layer* are from linear dependence (1: orthogonal, 0: dependent or dead), and these are
    summed over layers, as ZiCo and MeCo sum their per-layer statistics. The whole-network
    kernel mixes the layers and is dominated by the ones with the largest gradients; per layer,
    every layer that separates the probe images counts. ``size``: use the leading ``size`` ×
    ``size`` block (the probe images, when held-out images were appended).

    Example:
        >>> net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
        >>> layers = {"0": torch.eye(3), "2": torch.ones(3, 3)}
        >>> layer_gradient_decorrelation(layers, net)
        1.0
    """
    modules = dict(model.named_modules())
    blocks = [
        kernel if size is None else kernel[:size, :size]
        for name, kernel in layers.items()
        if isinstance(modules.get(name), WEIGHT_LAYERS)
    ]
    if not blocks:
        return 0.0
    return float(cosine_lambda_min(torch.stack(blocks)).sum())
