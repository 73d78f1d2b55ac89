"""The zero-cost-proxy baselines: SynFlow (Tanaka et al. 2020) and ZiCo (Li et al. 2023)."""

from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from torch import nn

from ntknas.ntk import OutputSelector, logits_of
from ntknas.proxies._pass import WEIGHT_LAYERS, _preserved

#: ``synflow`` of a network in which no path carries the input to the output (log 0): the log of
#: the smallest positive double, so such networks rank below every other and stay finite.
SYNFLOW_OF_ZERO = -745.0

#: ``zico`` of a network in which no weight's gradient varies between the batches (no layer
#: contributes a term): ranks below every other and stays finite, as :data:`SYNFLOW_OF_ZERO`.
ZICO_OF_NONE = -745.0


class LabelRangeError(ValueError):
    """The probe labels name a class the network has no logit for (``zico`` needs a loss)."""


def synflow(
    model: nn.Module, input_shape: tuple[int, ...], *, output: OutputSelector = None
) -> float:
    """log of SynFlow (Tanaka et al. 2020), the zero-cost-proxy baseline: Σ_θ |θ · ∂R/∂θ| with
    R = Σ of the logits of a copy of the network whose weights are replaced by their absolute
    values, in double precision, on one all-ones input of ``input_shape``.

    BatchNorm uses its running statistics (at initialization mean 0 and variance 1: the identity
    up to 1/√(1+ε)), as the published proxy removes BatchNorm: one constant input has no batch
    statistics. Dropout is off. The caller's model is not changed. A network in which no path
    carries the input to the output scores :data:`SYNFLOW_OF_ZERO`. ``output``: where the
    logits are in a tuple output (:func:`ntknas.ntk.logits_of`).

    Example:
        >>> net = nn.Sequential(nn.Linear(3, 4, bias=False), nn.Linear(4, 2, bias=False))
        >>> with torch.no_grad():
        ...     _ = net[0].weight.fill_(0.5), net[1].weight.fill_(-1.0)
        >>> round(math.exp(synflow(net, (3,))), 6)  # 2 · (12 paths of 0.5 · 1), once per layer
        24.0
    """
    net = copy.deepcopy(model).double().eval()
    params = [p for p in net.parameters() if p.requires_grad]
    with torch.no_grad():
        for p in params:
            p.abs_()
    device = params[0].device if params else torch.device("cpu")
    with torch.enable_grad():
        out = logits_of(
            net(torch.ones(1, *input_shape, dtype=torch.float64, device=device)), output
        )
        grads = torch.autograd.grad(out.sum(), params, allow_unused=True)
    total = sum(float((p.detach() * g).abs().sum()) for p, g in zip(params, grads) if g is not None)
    return math.log(total) if total > 0 else SYNFLOW_OF_ZERO


def _signal_to_noise(grads: list[torch.Tensor]) -> float:
    """Σ_θ E|g_θ| / σ(g_θ) over the weights whose gradient varies between the batches (float64;
    E and the population σ over the batches). Elementwise over each batch's gradient: a
    reduction over a leading batch axis of a stacked tensor was 25× slower on CPU (1.6 s against
    0.06 s for a 7.3M-weight AutoFormer network, the same sum)."""
    g = [grad.double() for grad in grads]
    count = len(g)
    mean = sum(g[1:], g[0].clone()).div_(count)
    variance = sum(((x - mean).square_() for x in g[1:]), (g[0] - mean).square_()).div_(count)
    mean_abs = sum((x.abs() for x in g[1:]), g[0].abs()).div_(count)
    ratio = mean_abs.div_(variance.sqrt_())
    return float(ratio.masked_fill_(variance == 0, 0).sum())


def zico_terms(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    batches: int = 2,
    output: OutputSelector = None,
    keep_logits: list[torch.Tensor] | None = None,
) -> dict[str, float]:
    """ZiCo's term of each weight layer (module name → log Σ_θ E|g_θ| / σ(g_θ)); see
    :func:`zico`. A layer none of whose weights' gradients varies between the batches (or that
    no gradient reaches) has no term. ``keep_logits``: the batches' logits, detached and in
    the images' order, are appended to it, if given (the scorer's input check reads them
    instead of a forward of its own).

    Raises:
        LabelRangeError: a label is not below the number of logits.

    Example:
        >>> net = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 2))
        >>> x, y = torch.randn(8, 3), torch.tensor([0, 1] * 4)
        >>> sorted(zico_terms(net, x, y))
        ['0', '2']
    """
    if batches < 2:
        raise ValueError(f"zico needs at least 2 batches to measure a deviation, got {batches}")
    if images.shape[0] < batches:
        raise ValueError(f"zico: {images.shape[0]} images cannot be split into {batches} batches")
    layers = [
        (name, m.weight)
        for name, m in model.named_modules()
        if isinstance(m, WEIGHT_LAYERS) and m.weight is not None and m.weight.requires_grad
    ]
    weights = [w for _, w in layers]
    per_batch: list[list[torch.Tensor | None]] = []
    logits_seen: list[torch.Tensor] = []
    with _preserved(model), torch.enable_grad():
        for x, y in zip(torch.tensor_split(images, batches), torch.tensor_split(labels, batches)):
            logits = logits_of(model(x), output)
            y = y.to(images.device)
            if y.numel() and int(y.max()) >= logits.shape[-1]:
                raise LabelRangeError(
                    f"zico: probe label {int(y.max())} is out of range for a network with "
                    f"{logits.shape[-1]} logits (build it with at least {int(y.max()) + 1})"
                )
            loss = F.cross_entropy(logits, y)
            per_batch.append(list(torch.autograd.grad(loss, weights, allow_unused=True)))
            logits_seen.append(logits.detach())
    terms: dict[str, float] = {}
    for i, (name, _) in enumerate(layers):
        grads = [g[i] for g in per_batch]
        if any(g is None for g in grads):
            continue
        ratio = _signal_to_noise(grads)
        if ratio > 0:
            terms[name] = math.log(ratio)
    if keep_logits is not None:
        keep_logits.append(torch.cat(logits_seen))
    return terms


def zico(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    batches: int = 2,
    output: OutputSelector = None,
    keep_logits: list[torch.Tensor] | None = None,
) -> float:
    """ZiCo (Li et al. 2023), the gradient signal-to-noise proxy: Σ over weight layers of
    log Σ_θ E|g_θ| / σ(g_θ), where g_θ is the cross-entropy gradient of the layer's weight θ on
    each of ``batches`` equal parts of ``images`` and E, σ are the mean and the (population)
    standard deviation over those parts. Weights whose gradient does not vary (σ = 0) are left
    out, and so is a layer none of whose weights varies, as in the published proxy
    (:func:`zico_terms` gives each layer's term).

    Weight layers are those of :data:`ntknas.proxies.WEIGHT_LAYERS` (convolutions and linear
    layers; biases and normalization parameters are not read). BatchNorm normalizes each part
    with its own statistics (train mode, as published), dropout is off; the caller's flags,
    buffers and gradients are unchanged. The published proxy reads two loader batches of 64
    images; here the probe batch is split, so one call costs one forward and backward of the
    probe batch. Sums are in double precision. The log of a sum over a layer's weights grows
    with the layer's size: ZiCo rewards size as well as gradient consistency. A network with no
    varying weight gradient scores :data:`ZICO_OF_NONE`. ``output``: where the logits are in a
    tuple output (:func:`ntknas.ntk.logits_of`). ``keep_logits``: as :func:`zico_terms`.

    Example:
        >>> net = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 2))
        >>> x, y = torch.randn(8, 3), torch.tensor([0, 1] * 4)
        >>> math.isfinite(zico(net, x, y)), net[0].weight.grad is None
        (True, True)
    """
    terms = zico_terms(
        model, images, labels, batches=batches, output=output, keep_logits=keep_logits
    )
    return math.fsum(terms.values()) if terms else ZICO_OF_NONE
