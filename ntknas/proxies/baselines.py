"""SynFlow (Tanaka et al. 2020), the zero-cost-proxy baseline."""

from __future__ import annotations

import copy
import math

import torch
from torch import nn

from ntknas.ntk import OutputSelector, logits_of

#: ``synflow`` of a network in which no path carries the input to the output (log 0): the log of
#: the smallest positive double, so such networks rank below every other and stay finite.
SYNFLOW_OF_ZERO = -745.0


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
