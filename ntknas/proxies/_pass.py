"""The probe passes every signal shares: the rectifier forward (no grad, train mode, BatchNorm
statistics recorded), its logits, and BatchNorm with recorded statistics as constants."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import nn

from ntknas.ntk import (
    OutputSelector,
    RecordedStatistics,
    logits_of,
    pass_modes,
    recorded_statistics,
    weights_in_layout,
)

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


def _preserved(model: nn.Module, *, batchnorm_train: bool = True) -> Any:
    """A probe pass's flags (everything eval but BatchNorm, in train mode unless told
    otherwise), the caller's flags and every buffer restored afterwards."""
    return pass_modes(model, batchnorm_train=batchnorm_train, restore_buffers=True)


#: BatchNorm module name → the (mean, variance) of each batch it normalized in a train-mode
#: forward, one pair per call (a module may be called more than once).
BatchStatistics = RecordedStatistics


def uses_channels_last(model: nn.Module, x: torch.Tensor) -> bool:
    """Whether a probe pass of ``model`` on ``x`` is one channels-last can speed up: a batch of
    images (N, C, H, W) and at least one 2-d convolution."""
    return x.dim() == 4 and any(isinstance(m, nn.Conv2d) for m in model.modules())


@contextlib.contextmanager
def channels_last_pass(model: nn.Module, x: torch.Tensor, enabled: bool) -> Iterator[torch.Tensor]:
    """Run the block with ``model``'s 4-d weights and the images ``x`` in channels-last (NHWC)
    memory format, when ``enabled`` and :func:`uses_channels_last`; yields the images to use.

    The same numbers in another layout: on CPU oneDNN's NHWC convolutions (measured 0.875× the
    time of a NAS-Bench-201 cell's probe passes, 0.79× a NAS-Bench-Macro network's; results/speed/).
    Each weight is put back in the layout it had afterwards, so the caller's model is unchanged
    (its values are copied between layouts, never recomputed).

    Example:
        >>> net = nn.Sequential(nn.Conv2d(3, 4, 3))
        >>> with channels_last_pass(net, torch.ones(2, 3, 5, 5), True) as x:
        ...     x.is_contiguous(memory_format=torch.channels_last)
        True
        >>> net[0].weight.is_contiguous()
        True
    """
    if not enabled or not uses_channels_last(model, x):
        yield x
        return
    with weights_in_layout(model, torch.channels_last):
        yield x.contiguous(memory_format=torch.channels_last)


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

    handles = [
        m.register_forward_pre_hook(hook)
        for m in model.modules()
        if record is not None and isinstance(m, RECTIFIERS)
    ]
    recording = recorded_statistics(model) if statistics is not None else contextlib.nullcontext()
    try:
        with _preserved(model), torch.no_grad(), recording as recorded:
            logits = logits_of(model(x), output)
    finally:
        for h in handles:
            h.remove()
    if statistics is not None:
        statistics.update(recorded)
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
