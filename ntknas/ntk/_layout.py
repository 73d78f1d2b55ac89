"""Memory layout of a network's 4-d tensors for the duration of one pass, restored afterwards."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn


def _strides(shape: torch.Size, memory_format: torch.memory_format) -> tuple[int, ...]:
    """The strides of a dense 4-d tensor of ``shape`` stored in ``memory_format``."""
    n, c, h, w = shape
    if memory_format == torch.channels_last:
        return (h * w * c, 1, w * c, c)
    return (c * h * w, h * w, w, 1)


def _layout_of(t: torch.Tensor) -> torch.memory_format | None:
    """The layout whose strides a 4-d tensor has exactly (``None``: neither, e.g. a view).

    Exact strides, not ``is_contiguous``: a 1×1 convolution's weight (O, I, 1, 1) is
    "contiguous" in both formats, yet PyTorch picks the convolution's layout from its strides.
    """
    for memory_format in (torch.contiguous_format, torch.channels_last):
        if t.stride() == _strides(t.shape, memory_format):
            return memory_format
    return None


@contextlib.contextmanager
def weights_in_layout(model: nn.Module, memory_format: torch.memory_format) -> Iterator[None]:
    """Store ``model``'s 4-d parameters and buffers in ``memory_format`` inside the block, and
    put each back in the layout it had before (its values copied between layouts, never
    recomputed; a change made inside the block is kept).

    The kernel pass runs NCHW whatever the caller's layout, so one network has one kernel (a
    NAS-Bench-Macro network's frozen-BatchNorm kernel differed by up to 3e-4, relative, between
    its NCHW and channels-last copies: float32 rounding in another summation order, which that
    kernel is sensitive to). The probe passes run channels-last on the CPU, where it is faster.

    Example:
        >>> net = nn.Sequential(nn.Conv2d(3, 4, 3)).to(memory_format=torch.channels_last)
        >>> with weights_in_layout(net, torch.contiguous_format):
        ...     net[0].weight.is_contiguous()
        True
        >>> net[0].weight.is_contiguous(memory_format=torch.channels_last)
        True
    """
    tensors = [t for t in (*model.parameters(), *model.buffers()) if t.dim() == 4]
    changed = [(t, layout) for t in tensors if (layout := _layout_of(t)) != memory_format]
    for t, _ in changed:
        t.data = t.data.clone(memory_format=memory_format)
    try:
        yield
    finally:
        for t, layout in changed:
            t.data = t.data.clone(memory_format=layout or torch.contiguous_format)
