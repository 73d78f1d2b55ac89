"""The probe passes every signal shares: the rectifier forward (no grad, train mode, BatchNorm
statistics recorded), its logits, and BatchNorm with recorded statistics as constants."""

from __future__ import annotations

import contextlib
import types
from collections.abc import Callable, Iterator

import torch
from torch import nn

from ntknas.ntk import OutputSelector, batch_statistics, logits_of

#: Activations whose input sign defines the on/off pattern.
RECTIFIERS: tuple[type[nn.Module], ...] = (
    nn.ReLU,
    nn.ReLU6,
    nn.LeakyReLU,
    nn.GELU,
    nn.SiLU,
    nn.ELU,
    nn.Mish,
    nn.Hardswish,
)


#: Modules whose per-layer NTK enters :func:`layer_gradient_decorrelation` and whose
#: output gradient enters :func:`backward_decorrelation`: the weight layers
#: (normalization parameters only rescale and shift what these layers produce).
WEIGHT_LAYERS: tuple[type[nn.Module], ...] = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)


@contextlib.contextmanager
def _preserved(model: nn.Module) -> Iterator[None]:
    """Run with train mode on and restore the train/eval flags and every buffer afterwards."""
    flags = {m: m.training for m in model.modules()}
    buffers = [(b, b.detach().clone()) for b in model.buffers()]
    try:
        yield
    finally:
        with torch.no_grad():
            for b, saved in buffers:
                b.copy_(saved)
        for m, flag in flags.items():
            m.training = flag


#: BatchNorm module → the (variance, mean) of each batch it normalized in a train-mode forward,
#: one pair per call (a module may be called more than once).
BatchStatistics = dict[nn.Module, list[tuple[torch.Tensor, torch.Tensor]]]


def _rectifier_pass(
    model: nn.Module,
    x: torch.Tensor,
    record: Callable[[torch.Tensor], None] | None,
    statistics: BatchStatistics | None = None,
    output: OutputSelector = None,
) -> torch.Tensor:
    """One no-grad train-mode forward (dropout off) calling ``record`` with every rectifier's
    input, and filling ``statistics`` (if given) with each BatchNorm's batch statistics; the
    model's flags and buffers are restored. Returns the logits of that forward."""

    def hook(_module: nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
        record(inputs[0].detach())

    def remember(module: nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
        mean, var = batch_statistics(inputs[0])  # the engine's fused reduction (bn="frozen")
        statistics.setdefault(module, []).append((var, mean))

    handles = [
        m.register_forward_pre_hook(hook)
        for m in model.modules()
        if record is not None and isinstance(m, RECTIFIERS)
    ]
    if statistics is not None:
        handles += [
            m.register_forward_pre_hook(remember)
            for m in model.modules()
            if isinstance(m, nn.modules.batchnorm._BatchNorm)
        ]
    try:
        with _preserved(model), torch.no_grad():
            model.train()
            for m in model.modules():
                if isinstance(m, nn.modules.dropout._DropoutNd):
                    m.eval()
            logits = logits_of(model(x), output)
    finally:
        for h in handles:
            h.remove()
    return logits


def probe_logits(
    model: nn.Module, x: torch.Tensor, *, output: OutputSelector = None
) -> torch.Tensor:
    """The logits of the probe forward: no grad, train mode (BatchNorm on the batch's
    statistics), dropout off; the model's flags and buffers are restored.

    Example:
        >>> probe_logits(nn.Linear(3, 2), torch.ones(4, 3)).shape
        torch.Size([4, 2])
    """
    return _rectifier_pass(model, x, None, output=output)


@contextlib.contextmanager
def _constant_batch_statistics(model: nn.Module, statistics: BatchStatistics) -> Iterator[None]:
    """BatchNorm normalizes with recorded batch statistics used as constants (the NTK engine's
    ``bn="frozen"``: the forward of train mode on the whole batch, no gradient through the
    statistics), so any subset of the batch can be run alone; the k-th call of a module uses
    the statistics of its k-th call in the recorded forward."""
    calls: dict[nn.Module, int] = {}

    def forward(self: nn.modules.batchnorm._BatchNorm, x: torch.Tensor) -> torch.Tensor:
        k = calls.get(self, 0)
        calls[self] = k + 1
        var, mean = statistics[self][k]
        return nn.functional.batch_norm(
            x, mean, var, self.weight, self.bias, training=False, momentum=0.0, eps=self.eps
        )

    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for m in norms:
        m.forward = types.MethodType(forward, m)
    try:
        yield
    finally:
        for m in norms:
            del m.forward
